import sharp from 'sharp';
import { imageSchema } from '../lib/config';
import { decodeNpy } from '../lib/data/npy';
import type { z } from 'zod';
import { SHARD_SIZE, shardArtifacts, writeShard, type ShardGroups, type ShardRef } from '../lib/data/shards';
import { readArtifact } from '../lib/store';
import { SPLITS, type SplitName } from './split';
import { defineStage, type StageContext, type StageOutput } from './stage';

/**
 * Decoded images above this many pixels are rejected as possible decompression bombs; 40 Mpx is
 * about 120 MB of RGB. Decoding stops at truncated data (failOn 'truncated') but lets the warnings
 * that libjpeg emits for recoverable data pass.
 */
const MAX_INPUT_PIXELS = 40_000_000;

/** One chunk of a split: up to SHARD_SIZE images that become one shard. */
interface ResizedChunk {
  split: SplitName;
  chunk: number;
  shard: ShardRef;
  skipped: { source: string; reason: string }[];
}

type ResizeContext = StageContext<z.infer<typeof imageSchema>>;

/**
 * Decodes every image once, converts it to RGB (EXIF orientation applied, alpha dropped), resizes
 * it bilinearly to the model's input size and stores each split as uint8 shards. Images that fail
 * to decode are skipped and listed with their reason. The chunks of SHARD_SIZE images are
 * independent, so the stage can fan out: part k of n resizes every n-th chunk, and the merge puts
 * the chunks back in order, which gives the same shards whatever n is.
 */
export const resize = defineStage({
  name: 'resize',
  version: 2,
  params: imageSchema,
  run: async (context) => mergeChunks(context, [await resizeChunks(context, { index: 0, count: 1 })]),
  shards: { run: resizeChunks, merge: mergeChunks },
});

async function resizeChunks(
  context: ResizeContext,
  shard: { index: number; count: number },
): Promise<StageOutput> {
  const { params, inputs, store, attemptPrefix, report } = context;
  const assignment = JSON.parse(
    (await readArtifact(store, inputs.split.artifacts.split, 'split')).toString('utf8'),
  ) as Record<string, number[]>;
  const loader = await openDataset(inputs.download, store);
  const { height, width, fit } = params;
  const pixelsPerImage = height * width * 3;

  const units = SPLITS.flatMap((split) =>
    Array.from({ length: Math.ceil(assignment[split].length / SHARD_SIZE) }, (_, chunk) => ({
      split,
      chunk,
    })),
  ).filter((_, position) => position % shard.count === shard.index);
  const total = units.reduce(
    (sum, unit) => sum + Math.min(SHARD_SIZE, assignment[unit.split].length - unit.chunk * SHARD_SIZE),
    0,
  );
  let done = 0;

  const chunks: ResizedChunk[] = [];
  for (const { split, chunk } of units) {
    const indices = assignment[split].slice(chunk * SHARD_SIZE, (chunk + 1) * SHARD_SIZE);
    const images = new Uint8Array(indices.length * pixelsPerImage);
    const labels = new Int32Array(indices.length);
    const skipped: ResizedChunk['skipped'] = [];
    let kept = 0;
    for (const index of indices) {
      try {
        const pixels = await loader.resized(index, width, height, fit);
        images.set(pixels, kept * pixelsPerImage);
        labels[kept] = loader.label(index);
        kept++;
      } catch (error) {
        skipped.push({ source: loader.describe(index), reason: (error as Error).message });
      }
      done++;
    }
    const ref = await writeShard(store, `${attemptPrefix}/${split}-${String(chunk).padStart(5, '0')}`, {
      images: images.subarray(0, kept * pixelsPerImage),
      labels: labels.subarray(0, kept),
      shape: [kept, height, width, 3],
    });
    chunks.push({ split, chunk, shard: ref, skipped });
    report({ phase: 'resize', fraction: done / total, message: `${done}/${total} images` });
  }

  return {
    artifacts: Object.fromEntries(
      chunks.flatMap((item) => [
        [`${item.split}/${item.chunk}/images`, item.shard.images],
        [`${item.split}/${item.chunk}/labels`, item.shard.labels],
      ]),
    ),
    counts: { images: done },
    info: { chunks, classNames: inputs.download.info.classNames, height, width },
  };
}

async function mergeChunks(_context: ResizeContext, parts: StageOutput[]): Promise<StageOutput> {
  const chunks = parts
    .flatMap((part) => part.info?.chunks as ResizedChunk[])
    .sort((a, b) => SPLITS.indexOf(a.split) - SPLITS.indexOf(b.split) || a.chunk - b.chunk);
  const groups: ShardGroups = Object.fromEntries(SPLITS.map((split) => [split, [] as ShardRef[]]));
  const skipped = chunks.flatMap((item) => item.skipped);
  for (const item of chunks) groups[item.split].push(item.shard);

  const counts: Record<string, number> = {};
  for (const split of SPLITS) counts[split] = groups[split].reduce((sum, shard) => sum + shard.count, 0);
  counts.skipped = skipped.length;
  const first = parts[0]?.info ?? {};
  return {
    artifacts: shardArtifacts(groups),
    counts,
    info: { shards: groups, classNames: first.classNames, skipped, height: first.height, width: first.width },
  };
}

interface DatasetLoader {
  resized(index: number, width: number, height: number, fit: Fit): Promise<Uint8Array>;
  label(index: number): number;
  describe(index: number): string;
}

async function openDataset(
  dataset: import('../lib/pipeline').StageManifest,
  store: import('../lib/store').ArtifactStore,
): Promise<DatasetLoader> {
  if (dataset.info.format === 'npy') {
    const images = decodeNpy(await readArtifact(store, dataset.artifacts.images, 'download'));
    const labels = decodeNpy(await readArtifact(store, dataset.artifacts.labels, 'download'));
    const [, sourceHeight, sourceWidth, channels] = images.shape;
    const size = sourceHeight * sourceWidth * channels;
    return {
      resized: (index, width, height, fit) =>
        toRgb(
          sharp(Buffer.from((images.data as Uint8Array).subarray(index * size, (index + 1) * size)), {
            raw: { width: sourceWidth, height: sourceHeight, channels: channels as 1 | 3 },
          }),
          width,
          height,
          fit,
        ),
      label: (index) => labels.data[index],
      describe: (index) => `${dataset.info.source as string}#${index}`,
    };
  }

  const index = JSON.parse(
    (await readArtifact(store, dataset.artifacts.index, 'download')).toString('utf8'),
  ) as {
    key: string;
    label: number;
    source: string;
    sha256: string;
    bytes: number;
  }[];
  return {
    resized: async (i, width, height, fit) => {
      const entry = index[i];
      const data = await readArtifact(
        store,
        { uri: store.uriOf(entry.key), sha256: entry.sha256, bytes: entry.bytes },
        'download',
      );
      // sharp reads an empty buffer as "no input" instead of failing, so it is caught here.
      if (data.length === 0) throw new Error('empty file');
      return toRgb(
        sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'truncated' }).rotate(),
        width,
        height,
        fit,
      );
    },
    label: (i) => index[i].label,
    describe: (i) => index[i].source,
  };
}

/** Converts to 8-bit sRGB without alpha and resizes bilinearly with the chosen aspect-ratio policy. */
type Fit = 'stretch' | 'crop' | 'pad';

const SHARP_FIT = { stretch: 'fill', crop: 'cover', pad: 'contain' } as const;

async function toRgb(
  image: import('sharp').Sharp,
  width: number,
  height: number,
  fit: Fit,
): Promise<Uint8Array> {
  const { data, info } = await image
    .removeAlpha()
    .toColourspace('srgb')
    .resize(width, height, {
      fit: SHARP_FIT[fit],
      position: 'centre',
      background: { r: 0, g: 0, b: 0 },
      kernel: 'linear',
    })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const value = data[p * info.channels];
    rgb[p * 3] = value;
    rgb[p * 3 + 1] = value;
    rgb[p * 3 + 2] = value;
  }
  return rgb;
}
