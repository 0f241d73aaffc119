import { z } from 'zod';

/** A stored file as manifests record it: where it is, its sha256 and its size in bytes. */
export const artifactSchema = z.object({
  uri: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
});
export type Artifact = z.infer<typeof artifactSchema>;

/**
 * Storage for datasets, caches, checkpoints and reports, addressed by keys relative to a root URI.
 *
 * Every write is atomic: a reader sees either nothing or the whole object. `putIfAbsent` never
 * replaces an existing object, which is what makes a stage manifest a commit point.
 */
export interface ArtifactStore {
  /** Root URI, such as `file:///var/retrain` or `s3://bucket/prefix`. */
  readonly root: string;

  /** Returns the absolute URI of a key. */
  uriOf(key: string): string;

  /** Returns the key of an absolute URI under this store's root. */
  keyOf(uri: string): string;

  /** Writes an object atomically, replacing any previous one, and returns its digest. */
  put(key: string, data: Buffer): Promise<Artifact>;

  /** Writes an object atomically unless the key exists; returns false and writes nothing if it does. */
  putIfAbsent(key: string, data: Buffer): Promise<boolean>;

  /** Reads a whole object, or returns undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;

  exists(key: string): Promise<boolean>;

  /** Lists the keys that start with a prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
}
