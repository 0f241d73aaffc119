import seedrandom from 'seedrandom';
import { readShard, writeShard, type ShardGroups, type ShardRef } from '../data/shards';
import { openStore } from '../store';
import type { Tensor, Tf } from '../tf/tf';

type Tensor4D = import('@tensorflow/tfjs').Tensor4D;
import { initBackend, type JobContext } from './context';

export interface AugmentJobInput {
  storeUri: string;
  attemptPrefix: string;
  train: ShardRef[];
  flip: 'horizontal' | 'none';
  rotation: number;
  copies: number;
  seed: number;
  /** Copies committed by an earlier attempt, from its last heartbeat. */
  resume?: ShardGroups;
  /** Part of the work to do when the stage fans out: every count-th (copy, shard) pair from index. */
  part?: { index: number; count: number };
}

const CHUNK = 64;

/**
 * Writes `copies` augmented versions of the training shards: a random horizontal flip, then a
 * random rotation by up to `rotation` of a full turn either way, bilinear with reflected edges,
 * as keras.layers.RandomFlip and RandomRotation do. Results are rounded back to uint8.
 */
export async function augmentJob(input: AugmentJobInput, context: JobContext): Promise<ShardGroups> {
  // Neither tfjs-node nor the wasm backend has a Transform kernel in TensorFlow.js 4.22.
  const { tf } = await initBackend(context, 'inference', 'cpu');
  const store = openStore(input.storeUri);
  const groups: ShardGroups = {};
  const part = input.part ?? { index: 0, count: 1 };
  const total = Math.ceil((input.copies * input.train.length - part.index) / part.count);
  let done = 0;

  for (let copy = 0; copy < input.copies; copy++) {
    const group = `train-copy-${copy}`;
    groups[group] = [];
    for (const [index, shard] of input.train.entries()) {
      // Other parts fill the gaps; the merge puts every copy's shards back in order.
      if ((copy * input.train.length + index) % part.count !== part.index) continue;
      const previous = input.resume?.[group]?.[index];
      if (
        previous &&
        (await store.exists(store.keyOf(previous.images.uri))) &&
        (await store.exists(store.keyOf(previous.labels.uri)))
      ) {
        groups[group][index] = previous;
        done++;
        continue;
      }

      const batch = await readShard(store, shard, 'resize');
      const [count, height, width, channels] = batch.shape;
      const random = seedrandom(`${input.seed}:${copy}:${index}`);
      const output = new Uint8Array(batch.images.length);
      for (let start = 0; start < count; start += CHUNK) {
        const end = Math.min(count, start + CHUNK);
        const pixels = Float32Array.from(
          batch.images.subarray(start * height * width * channels, end * height * width * channels),
        );
        const transforms: number[][] = [];
        for (let n = 0; n < end - start; n++) {
          if (input.flip === 'horizontal' && random() < 0.5) flipRow(pixels, n, height, width, channels);
          transforms.push(
            rotationTransform((random() * 2 - 1) * input.rotation * 2 * Math.PI, height, width),
          );
        }
        const rotated = tf.tidy(() => {
          const images = tf.tensor4d(pixels, [end - start, height, width, channels]);
          const result = input.rotation === 0 ? images : rotate(tf, images, transforms);
          return tf.clipByValue(tf.round(result as Tensor), 0, 255).dataSync();
        });
        output.set(Uint8Array.from(rotated), start * height * width * channels);
      }

      const ref = await writeShard(
        store,
        `${input.attemptPrefix}/${group}-${String(index).padStart(5, '0')}`,
        {
          images: output,
          labels: batch.labels,
          shape: batch.shape,
        },
      );
      groups[group][index] = ref;
      done++;
      context.progress(
        { phase: 'augment', fraction: done / total, message: `copy ${copy + 1}/${input.copies}` },
        groups,
      );
    }
  }
  return groups;
}

/** Applies one projective transform per image, bilinear with reflected edges. */
function rotate(tf: Tf, images: Tensor4D, transforms: number[][]): Tensor {
  // NOTE: tf.image.transform on the cpu backend of TensorFlow.js 4.22 returns zeros for every
  // image after the first of a batch, so each image is transformed on its own.
  const [, height, width, channels] = images.shape;
  const rotated = transforms.map((transform, n) =>
    tf.image.transform(
      tf.slice(images, [n, 0, 0, 0], [1, height, width, channels]),
      tf.tensor2d([transform]),
      'bilinear',
      'reflect',
    ),
  );
  return tf.concat(rotated);
}

function flipRow(pixels: Float32Array, image: number, height: number, width: number, channels: number): void {
  const base = image * height * width * channels;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width / 2; x++) {
      for (let c = 0; c < channels; c++) {
        const left = base + (y * width + x) * channels + c;
        const right = base + (y * width + (width - 1 - x)) * channels + c;
        [pixels[left], pixels[right]] = [pixels[right], pixels[left]];
      }
    }
  }
}

/**
 * Projective transform [a0, a1, a2, b0, b1, b2, c0, c1] that maps each output pixel to the input
 * pixel it samples, for a rotation by `angle` radians about the image centre (Keras's convention).
 */
export function rotationTransform(angle: number, height: number, width: number): number[] {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const xOffset = (width - 1 - (cos * (width - 1) - sin * (height - 1))) / 2;
  const yOffset = (height - 1 - (sin * (width - 1) + cos * (height - 1))) / 2;
  return [cos, -sin, xOffset, sin, cos, yOffset, 0, 0];
}
