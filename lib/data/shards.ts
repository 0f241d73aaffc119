import type { ArtifactRef, StageManifest } from '../pipeline';
import { readArtifact, type ArtifactStore } from '../store';
import { decodeNpy, encodeNpy } from './npy';

/** One shard of images: a uint8 [count, height, width, channels] array and int32 labels, as .npy files. */
export interface ShardRef {
  images: ArtifactRef;
  labels: ArtifactRef;
  count: number;
}

/** Shards by group name: `train`, `validation`, `test`, or `train-copy-N` for augmented copies. */
export type ShardGroups = Record<string, ShardRef[]>;

export interface ImageBatch {
  images: Uint8Array;
  labels: Int32Array;
  /** [count, height, width, channels] */
  shape: [number, number, number, number];
}

/** Images per shard; a shard is the unit a stage reads, writes and resumes from. */
export const SHARD_SIZE = 1024;

export async function writeShard(store: ArtifactStore, prefix: string, batch: ImageBatch): Promise<ShardRef> {
  const images = await store.put(
    `${prefix}-images.npy`,
    encodeNpy({ dtype: 'uint8', shape: batch.shape, data: batch.images }),
  );
  const labels = await store.put(
    `${prefix}-labels.npy`,
    encodeNpy({ dtype: 'int32', shape: [batch.shape[0]], data: batch.labels }),
  );
  return { images, labels, count: batch.shape[0] };
}

export async function readShard(
  store: ArtifactStore,
  shard: ShardRef,
  writtenBy: string,
): Promise<ImageBatch> {
  const images = decodeNpy(await readArtifact(store, shard.images, writtenBy));
  const labels = decodeNpy(await readArtifact(store, shard.labels, writtenBy));
  if (images.dtype !== 'uint8' || images.shape.length !== 4 || labels.dtype !== 'int32') {
    throw new Error(`Shard ${shard.images.uri} is not a uint8 [n, h, w, c] array with int32 labels.`);
  }
  return {
    images: images.data as Uint8Array,
    labels: labels.data as Int32Array,
    shape: images.shape as ImageBatch['shape'],
  };
}

/** Flattens shard groups into a manifest's artifact map, so that cache keys cover every shard. */
export function shardArtifacts(groups: ShardGroups): Record<string, ArtifactRef> {
  const artifacts: Record<string, ArtifactRef> = {};
  for (const [group, shards] of Object.entries(groups)) {
    shards.forEach((shard, index) => {
      const id = String(index).padStart(5, '0');
      artifacts[`${group}/${id}/images`] = shard.images;
      artifacts[`${group}/${id}/labels`] = shard.labels;
    });
  }
  return artifacts;
}

/** Reads the shard groups a data stage recorded in its manifest. */
export function shardGroupsOf(manifest: StageManifest): ShardGroups {
  const groups = manifest.info.shards as ShardGroups | undefined;
  if (!groups) throw new Error(`The ${manifest.stage} manifest ${manifest.cacheKey} lists no image shards.`);
  return groups;
}
