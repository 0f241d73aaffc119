import sharp from 'sharp';
import { imageSchema } from '../lib/config';
import { decodeNpy } from '../lib/data/npy';
import { SHARD_SIZE, shardArtifacts, writeShard, type ShardGroups } from '../lib/data/shards';
import { readArtifact } from '../lib/store';
import { SPLITS } from './split';
import { defineStage } from './stage';

/**
 * Decoded images above this many pixels are rejected as possible decompression bombs; 40 Mpx is
 * about 120 MB of RGB. Decoding stops at truncated data (failOn 'truncated') but lets the warnings
 * that libjpeg emits for recoverable data pass.
 */
const MAX_INPUT_PIXELS = 40_000_000;

/**
 * Decodes every image once, converts it to RGB (EXIF orientation applied, alpha dropped), resizes
 * it bilinearly to the model's input size and stores each split as uint8 shards. Images that fail
 * to decode are skipped and listed with their reason.
 */
export const resize = defineStage({
  name: 'resize',
  version: 1,
  params: imageSchema,
  run: async ({ params, inputs, store, attemptPrefix, report }) => {
    const dataset = inputs.download;
    const assignment = JSON.parse(
      (await readArtifact(store, inputs.split.artifacts.split, 'split')).toString('utf8'),
    ) as Record<string, number[]>;
    const loader = await openDataset(dataset, store);
    const { height, width, fit } = params;
    const pixelsPerImage = height * width * 3;

    const groups: ShardGroups = {};
    const skipped: { source: string; reason: string }[] = [];
    const counts: Record<string, number> = {};
    const total = SPLITS.reduce((sum, name) => sum + assignment[name].length, 0);
    let done = 0;

    for (const name of SPLITS) {
      groups[name] = [];
      const indices = assignment[name];
      for (let start = 0; start < indices.length; start += SHARD_SIZE) {
        const chunk = indices.slice(start, start + SHARD_SIZE);
        const images = new Uint8Array(chunk.length * pixelsPerImage);
        const labels = new Int32Array(chunk.length);
        let kept = 0;
        for (const index of chunk) {
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
        const shard = await writeShard(
          store,
          `${attemptPrefix}/${name}-${String(groups[name].length).padStart(5, '0')}`,
          {
            images: images.subarray(0, kept * pixelsPerImage),
            labels: labels.subarray(0, kept),
            shape: [kept, height, width, 3],
          },
        );
        groups[name].push(shard);
        report({ phase: 'resize', fraction: done / total, message: `${done}/${total} images` });
      }
      counts[name] = groups[name].reduce((sum, shard) => sum + shard.count, 0);
    }
    counts.skipped = skipped.length;

    return {
      artifacts: shardArtifacts(groups),
      counts,
      info: { shards: groups, classNames: dataset.info.classNames, skipped, height, width },
    };
  },
});

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
