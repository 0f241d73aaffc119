import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError, ArtifactIntegrityError } from '../errors';
import { sha256 } from '../digest';
import type { Artifact, ArtifactStore } from './artifact-store';
import { LocalArtifactStore } from './local-store';
import { S3ArtifactStore } from './s3-store';

export type { Artifact, ArtifactStore } from './artifact-store';
export { artifactSchema } from './artifact-store';

/**
 * Opens the artifact store at a root URI: `file:///abs/folder` or a plain path for a local folder,
 * or `s3://bucket/prefix` (with connection settings as query parameters) for S3.
 *
 * @throws InvalidInputError if the URI's scheme has no store.
 */
export function openStore(rootUri: string): ArtifactStore {
  if (rootUri.startsWith('file://')) return new LocalArtifactStore(fileURLToPath(rootUri));
  if (rootUri.startsWith('s3://')) return new S3ArtifactStore(rootUri);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(rootUri)) return new LocalArtifactStore(path.resolve(rootUri));
  throw new InvalidInputError(
    `Unsupported artifact store URI ${JSON.stringify(rootUri)}. Use a local folder path, a file:// URI or an s3:// URI.`,
  );
}

/**
 * Reads an artifact and checks it against the sha256 its manifest recorded.
 *
 * @throws ArtifactIntegrityError if the object is missing or its bytes changed; the message names
 *   the URI and the stage that wrote it.
 */
export async function readArtifact(
  store: ArtifactStore,
  artifact: Artifact,
  writtenBy = 'an earlier stage',
): Promise<Buffer> {
  const data = await store.get(store.keyOf(artifact.uri));
  if (data === undefined) {
    throw new ArtifactIntegrityError(
      `Artifact ${artifact.uri} written by ${writtenBy} is missing from the store.`,
    );
  }
  const digest = sha256(data);
  if (digest !== artifact.sha256) {
    throw new ArtifactIntegrityError(
      `Artifact ${artifact.uri} written by ${writtenBy} is corrupted: its sha256 is ${digest} but the manifest records ${artifact.sha256}.`,
    );
  }
  return data;
}
