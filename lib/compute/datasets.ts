import { decodeNpy, encodeNpy } from '../data/npy';
import { readShard, type ShardRef } from '../data/shards';
import * as path from 'node:path';
import type { ArtifactRef, StageProgress } from '../pipeline';
import { readArtifact, type ArtifactStore } from '../store';
import type { ChunkedDataset, InMemoryDataset } from '../tf/fit';
import type { LayersModel, Tensor, Tf } from '../tf/tf';

/** Cached model outputs (features or activations) of one shard group, with its labels. */
export interface CachedOutputs {
  values: ArtifactRef;
  labels: ArtifactRef;
}

/** Number of images in a list of shards. */
export function countOf(shards: ShardRef[]): number {
  return shards.reduce((sum, shard) => sum + shard.count, 0);
}

/** Image shards as a chunked dataset: one chunk per shard, read when training reaches it. */
export function imageChunks(store: ArtifactStore, shards: ShardRef[], writtenBy: string): ChunkedDataset {
  return {
    sizes: shards.map((shard) => shard.count),
    load: (chunk) => loadImages(store, [shards[chunk]], writtenBy),
  };
}

/** Cached outputs as a chunked dataset of one chunk; features are small next to the images. */
export function cachedOutputChunks(
  store: ArtifactStore,
  cached: CachedOutputs,
  count: number,
): ChunkedDataset {
  return { sizes: [count], load: () => loadCachedOutputs(store, cached) };
}

/** Reads and concatenates image shards into one uint8 dataset. */
export async function loadImages(
  store: ArtifactStore,
  shards: ShardRef[],
  writtenBy: string,
): Promise<InMemoryDataset> {
  const batches = [];
  for (const shard of shards) batches.push(await readShard(store, shard, writtenBy));
  const count = batches.reduce((sum, batch) => sum + batch.shape[0], 0);
  const exampleShape = batches[0]?.shape.slice(1) ?? [0, 0, 3];
  const size = exampleShape.reduce((a, b) => a * b, 1);
  const x = new Uint8Array(count * size);
  const labels = new Int32Array(count);
  let offset = 0;
  for (const batch of batches) {
    x.set(batch.images, offset * size);
    labels.set(batch.labels, offset);
    offset += batch.shape[0];
  }
  return { x, shape: [count, ...exampleShape], labels };
}

/**
 * Runs a frozen model over image shards in batches (`training` false) and stores its float32
 * outputs and the labels as .npy files.
 */
export async function cacheOutputs(
  tf: Tf,
  model: LayersModel,
  store: ArtifactStore,
  shards: ShardRef[],
  key: string,
  batchSize: number,
  onBatch: (done: number, total: number) => void,
): Promise<CachedOutputs> {
  const total = shards.reduce((sum, shard) => sum + shard.count, 0);
  const parts: Float32Array[] = [];
  const labels = new Int32Array(total);
  let outputShape: number[] = [];
  let done = 0;
  // One shard of images at a time: only the (much smaller) outputs accumulate.
  for (const shard of shards) {
    const images = await loadImages(store, [shard], 'resize or augment-cache');
    const count = images.shape[0];
    const size = images.shape.slice(1).reduce((a, b) => a * b, 1);
    labels.set(images.labels, done);
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(count, start + batchSize);
      const output = tf.tidy(() => {
        const batch = tf.tensor(Float32Array.from(images.x.subarray(start * size, end * size)), [
          end - start,
          ...images.shape.slice(1),
        ]);
        return model.predict(batch) as Tensor;
      });
      outputShape = output.shape.slice(1);
      parts.push(output.dataSync() as Float32Array);
      output.dispose();
      onBatch(done + end, total);
    }
    done += count;
  }
  const outputSize = outputShape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(total * outputSize);
  let offset = 0;
  for (const part of parts) {
    values.set(part, offset);
    offset += part.length;
  }
  return {
    values: await store.put(
      `${key}-values.npy`,
      encodeNpy({ dtype: 'float32', shape: [total, ...outputShape], data: values }),
    ),
    labels: await store.put(`${key}-labels.npy`, encodeNpy({ dtype: 'int32', shape: [total], data: labels })),
  };
}

export async function loadCachedOutputs(
  store: ArtifactStore,
  cached: CachedOutputs,
): Promise<InMemoryDataset> {
  const values = decodeNpy(await readArtifact(store, cached.values, 'a cached feature extraction'));
  const labels = decodeNpy(await readArtifact(store, cached.labels, 'a cached feature extraction'));
  return { x: values.data as Float32Array, shape: values.shape, labels: labels.data as Int32Array };
}

/** Shard groups a training stage reads: each augmented copy of the training split, then validation. */
export function trainingGroups(trainCopies: ShardRef[][], validation: ShardRef[]): [string, ShardRef[]][] {
  return [
    ...trainCopies.map((shards, copy): [string, ShardRef[]] => [`train-copy-${copy}`, shards]),
    ['validation', validation],
  ];
}

/**
 * Runs a frozen model over every shard group that `cached` lacks (or whose file is gone), storing
 * its outputs under `keyPrefix`. Progress reports carry the cache so far, so a retried attempt
 * skips the groups already done. Returns the number of images run.
 */
export async function cacheGroupOutputs(
  tf: Tf,
  model: LayersModel,
  store: ArtifactStore,
  groups: [string, ShardRef[]][],
  keyPrefix: string,
  cached: Record<string, CachedOutputs>,
  report: (progress: StageProgress) => void,
): Promise<number> {
  let images = 0;
  for (const [group, shards] of groups) {
    if (cached[group] && (await store.exists(store.keyOf(cached[group].values.uri)))) continue;
    cached[group] = await cacheOutputs(tf, model, store, shards, `${keyPrefix}/${group}`, 64, (done, total) =>
      report({
        phase: `${path.posix.basename(keyPrefix)} ${group}`,
        fraction: done / total,
        message: `${done}/${total} images`,
      }),
    );
    images += shards.reduce((sum, shard) => sum + shard.count, 0);
  }
  return images;
}
