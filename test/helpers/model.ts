import * as path from 'node:path';
import { writeShard, type ShardRef } from '../../lib/data/shards';
import type { ArtifactStore } from '../../lib/store';
import type { JobContext } from '../../lib/compute/context';

/** model.json of the pretrained MobileNetV2 that `npm run setup` writes from the nsfwjs package. */
export const MOBILENET_V2 = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  '.retrain',
  'models',
  'mobilenet_v2',
  'model.json',
);

export const quietContext: JobContext = {
  progress: () => undefined,
  log: () => undefined,
  warn: () => undefined,
};

/** Writes one shard of synthetic RGB images whose class decides which half is bright. */
export async function writeSyntheticShard(
  store: ArtifactStore,
  key: string,
  count: number,
  size: number,
  seed = 1,
): Promise<ShardRef> {
  const images = new Uint8Array(count * size * size * 3);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    labels[n] = n % 2;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const bright = labels[n] === 0 ? y < size / 2 : x < size / 2;
        for (let c = 0; c < 3; c++) {
          images[((n * size + y) * size + x) * 3 + c] = bright
            ? 180 + ((n * 31 + x * 7 + y * 3 + c + seed) % 70)
            : (x * y + n + seed) % 40;
        }
      }
    }
  }
  return writeShard(store, key, { images, labels, shape: [count, size, size, 3] });
}
