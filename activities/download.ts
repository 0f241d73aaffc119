import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, datasetSchema } from '../lib/config';
import { sha256 } from '../lib/digest';
import { InvalidInputError } from '../lib/errors';
import { readIdx } from '../lib/data/idx';
import { encodeNpy } from '../lib/data/npy';
import { IMAGE_EXTENSIONS, listImageFolder, readImageFolderFile } from '../lib/data/image-folder';
import { extractArchive, fetchArchive } from '../lib/data/archive';
import * as os from 'node:os';
import { defineStage, type StageContext, type StageOutput } from './stage';

const IDX_FILES = {
  train: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  test: ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
} as const;

type DownloadParams = z.infer<typeof datasetSchema>;

/**
 * Copies the selected classes of a dataset into the artifact store, so that later stages and
 * reruns never depend on the source staying unchanged. The fingerprint covers the source's
 * contents, so a scheduled rerun on changed data gets a new cache key.
 */
export const download = defineStage({
  name: 'download',
  version: 1,
  params: datasetSchema,
  fingerprint: async (params: DownloadParams) => {
    if (params.source.type === 'fashion-mnist' || params.source.type === 'mnist') {
      const digests: Record<string, string> = {};
      for (const file of idxFilesOf(params))
        digests[file] = sha256(await readSource(path.join(params.source.path, file), params.source.type));
      return digests;
    }
    if (params.source.type === 'archive') {
      return (await fetchArchive(params.source.url, params.source.sha256)).sha256;
    }
    const listing = await listImageFolder(params.source.path, params.classes);
    return sha256(JSON.stringify(listing.files.map((file) => [file.relativePath, file.bytes, file.version])));
  },
  run: async (context) => {
    const source = context.params.source;
    if (source.type === 'fashion-mnist' || source.type === 'mnist') return downloadIdx(context);
    if (source.type === 'image-folder') return downloadImageFolder(context, source.path);
    return downloadArchive(context, source);
  },
});

/** Downloads (or resumes) an archive, extracts it safely and copies its image folder into the store. */
async function downloadArchive(
  context: StageContext<DownloadParams>,
  source: Extract<DownloadParams['source'], { type: 'archive' }>,
): Promise<StageOutput> {
  const { file, sha256: digest } = await fetchArchive(source.url, source.sha256, (bytes, total) =>
    context.report({
      phase: 'download',
      fraction: total ? bytes / total : undefined,
      message: `${bytes} bytes`,
    }),
  );
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-extract-'));
  try {
    context.report({ phase: 'extract', message: path.basename(source.url) });
    await extractArchive(file, folder, source.url);
    const output = await downloadImageFolder(context, path.join(folder, source.root));
    return { ...output, info: { ...output.info, source: source.url, archiveSha256: digest } };
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

function idxFilesOf(params: DownloadParams): string[] {
  if (params.source.type !== 'fashion-mnist' && params.source.type !== 'mnist') return [];
  const subsets = params.source.subset === 'all' ? (['train', 'test'] as const) : [params.source.subset];
  return subsets.flatMap((subset) => [...IDX_FILES[subset]]);
}

async function readSource(file: string, type: 'fashion-mnist' | 'mnist'): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch {
    if (type === 'mnist') {
      throw new InvalidInputError(
        `MNIST file ${file} is missing. Set dataset.source.path to the folder with MNIST's IDX files.`,
      );
    }
    throw new InvalidInputError(
      `Fashion-MNIST file ${file} is missing. Install Debian's dataset-fashion-mnist package ` +
        '(apt-get install dataset-fashion-mnist, or npm run setup) or set dataset.source.path to the folder with the IDX files.',
    );
  }
}

/** Reads the selected classes of MNIST or Fashion-MNIST from their IDX files. */
async function downloadIdx(context: StageContext<DownloadParams>): Promise<StageOutput> {
  const { params, store, attemptPrefix } = context;
  const source = params.source as Extract<DownloadParams['source'], { type: 'fashion-mnist' | 'mnist' }>;
  const allClasses: readonly string[] = source.type === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES;
  const datasetName = source.type === 'mnist' ? 'an MNIST' : 'a Fashion-MNIST';
  const classNames = params.classes ?? [...allClasses];
  const classIds = classNames.map((name) => {
    const id = allClasses.indexOf(name);
    if (id < 0) {
      throw new InvalidInputError(
        `Class ${JSON.stringify(name)} is not ${datasetName} class. Valid classes: ${allClasses.map((c) => JSON.stringify(c)).join(', ')}.`,
      );
    }
    return id;
  });

  const files = idxFilesOf(params);
  const picked: { pixels: Uint8Array; label: number }[] = [];
  const perClass = new Array<number>(classNames.length).fill(0);
  let height = 0;
  let width = 0;
  for (let i = 0; i < files.length; i += 2) {
    await readSource(path.join(source.path, files[i]), source.type);
    const images = await readIdx(path.join(source.path, files[i]));
    const labels = await readIdx(path.join(source.path, files[i + 1]));
    [, height, width] = images.shape;
    const size = height * width;
    for (let n = 0; n < labels.shape[0]; n++) {
      const label = classIds.indexOf(labels.data[n]);
      if (label < 0 || (params.maxPerClass !== undefined && perClass[label] >= params.maxPerClass)) continue;
      perClass[label]++;
      picked.push({ pixels: images.data.subarray(n * size, (n + 1) * size), label });
    }
  }

  const images = new Uint8Array(picked.length * height * width);
  const labels = new Int32Array(picked.length);
  picked.forEach((example, n) => {
    images.set(example.pixels, n * height * width);
    labels[n] = example.label;
  });
  const imagesArtifact = await store.put(
    `${attemptPrefix}/images.npy`,
    encodeNpy({ dtype: 'uint8', shape: [picked.length, height, width, 1], data: images }),
  );
  const labelsArtifact = await store.put(
    `${attemptPrefix}/labels.npy`,
    encodeNpy({ dtype: 'int32', shape: [picked.length], data: labels }),
  );
  context.report({ phase: 'download', fraction: 1, message: `${picked.length} images` });

  return {
    artifacts: { images: imagesArtifact, labels: labelsArtifact },
    counts: {
      images: picked.length,
      ...Object.fromEntries(classNames.map((name, i) => [`class:${name}`, perClass[i]])),
    },
    info: { format: 'npy', classNames, source: source.path },
  };
}

async function downloadImageFolder(
  context: StageContext<DownloadParams>,
  root: string,
): Promise<StageOutput> {
  const { params, store, attemptPrefix } = context;
  const listing = await listImageFolder(root, params.classes);
  const perClass = new Array<number>(listing.classNames.length).fill(0);
  const entries: { key: string; label: number; source: string; sha256: string; bytes: number }[] = [];

  for (const [index, file] of listing.files.entries()) {
    if (params.maxPerClass !== undefined && perClass[file.label] >= params.maxPerClass) continue;
    perClass[file.label]++;
    const data = await readImageFolderFile(root, file.relativePath);
    const key = `${attemptPrefix}/files/${file.relativePath}`;
    const artifact = await store.put(key, data);
    entries.push({
      key: store.keyOf(artifact.uri),
      label: file.label,
      source: file.relativePath,
      sha256: artifact.sha256,
      bytes: artifact.bytes,
    });
    if (index % 100 === 0)
      context.report({ phase: 'copy', fraction: index / listing.files.length, message: file.relativePath });
  }

  const index = await store.put(`${attemptPrefix}/index.json`, Buffer.from(JSON.stringify(entries)));
  return {
    artifacts: { index },
    counts: {
      images: entries.length,
      ignored: listing.ignored.length,
      ...Object.fromEntries(listing.classNames.map((name, i) => [`class:${name}`, perClass[i]])),
    },
    info: {
      format: 'files',
      classNames: listing.classNames,
      source: root,
      ignored: listing.ignored,
      extensions: IMAGE_EXTENSIONS,
    },
  };
}
