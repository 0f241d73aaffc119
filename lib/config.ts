import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidInputError } from './errors';
import { formatS3Uri } from './store/s3-store';

/** MNIST's classes: the digits, named by themselves. */
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

const percent = z.number().min(0).max(100);
const positiveInt = z.number().int().positive();

export const datasetSourceSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('fashion-mnist'),
    /** Folder with the four IDX files, as Debian's dataset-fashion-mnist installs them. */
    path: z.string().default('/usr/share/datasets/fashion-mnist'),
    /** Original files to read: the 60,000 training images, the 10,000 test images, or both. */
    subset: z.enum(['train', 'test', 'all']).default('all'),
  }),
  z.object({
    type: z.literal('mnist'),
    /** Folder with MNIST's four IDX files (train-images-idx3-ubyte.gz and the others), gzipped or not. */
    path: z.string(),
    subset: z.enum(['train', 'test', 'all']).default('all'),
  }),
  z.object({
    type: z.literal('image-folder'),
    /** Folder with one subfolder of images per class, as keras.utils.image_dataset_from_directory reads. */
    path: z.string(),
  }),
  z.object({
    type: z.literal('archive'),
    /** A .zip, .tar or .tar.gz archive: an http(s) URL, a file:// URI or a path. */
    url: z.string().min(1),
    /** Expected sha256 of the archive, hex; the download is rejected when it differs. */
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'use 64 hex digits')
      .optional(),
    /** Folder inside the archive that contains one subfolder per class, such as PetImages. */
    root: z.string().default(''),
  }),
]);

export const datasetSchema = z.object({
  source: datasetSourceSchema,
  /** Classes to use, by name, in label order; all classes of the source when omitted. */
  classes: z.array(z.string().min(1)).min(2).optional(),
  /** Keeps at most this many images of each class, the first ones in source order. */
  maxPerClass: positiveInt.optional(),
});

export const splitSchema = z
  .object({
    /** Percent of each class's images for training; the Keras guide uses 40. */
    train: percent.default(40),
    validation: percent.default(10),
    test: percent.default(10),
    seed: z.number().int().default(1337),
  })
  .refine((split) => split.train + split.validation + split.test <= 100, {
    message: 'train + validation + test must not exceed 100 percent',
  })
  .refine((split) => split.train > 0 && split.validation > 0 && split.test > 0, {
    message: 'train, validation and test must each be above 0 percent',
  });

export const imageSchema = z.object({
  /** Input height and width of the model in pixels; images are resized (bilinear) to it. */
  height: positiveInt.max(1024).default(96),
  width: positiveInt.max(1024).default(96),
  /**
   * How the aspect ratio is handled, as in keras.utils.image_dataset_from_directory: `stretch`
   * resizes to the size directly, `crop` takes the largest centred crop of the target aspect ratio
   * (crop_to_aspect_ratio), and `pad` letterboxes with black (pad_to_aspect_ratio).
   */
  fit: z.enum(['stretch', 'crop', 'pad']).default('stretch'),
});

export const augmentSchema = z.object({
  /** Random horizontal flip, as keras.layers.RandomFlip('horizontal'). */
  flip: z.enum(['horizontal', 'none']).default('horizontal'),
  /** Random rotation factor, as keras.layers.RandomRotation: a fraction of a full turn, both ways. */
  rotation: z.number().min(0).max(0.5).default(0.1),
  /** Augmented copies of the training split stored in the cache; epoch e trains on copy e mod copies. */
  copies: positiveInt.max(64).default(3),
  seed: z.number().int().default(7),
});

export const baseModelSchema = z.object({
  /** model.json of a TensorFlow.js LayersModel: a path, file:// URI or http(s) URL. */
  uri: z.string().min(1),
  /**
   * Layer whose output is the feature map the head reads; the layers after it are dropped. When
   * omitted, the base is cut after its last layer with a 4-D (batch, height, width, channels) output.
   */
  outputLayer: z.string().min(1).optional(),
  /** Pixel preprocessing inside the model: pixels in [0, 255] become pixel * scale + offset. */
  preprocessing: z
    .object({ scale: z.number().default(1 / 255), offset: z.number().default(0) })
    .default({ scale: 1 / 255, offset: 0 }),
});

const trainingSchema = z.object({
  epochs: positiveInt.max(1000),
  batchSize: positiveInt.max(4096).default(32),
  learningRate: z.number().positive().max(1),
});

export const headSchema = trainingSchema.extend({
  epochs: positiveInt.max(1000).default(5),
  learningRate: z.number().positive().max(1).default(1e-3),
  dropout: z.number().min(0).lt(1).default(0.2),
});

export const fineTuneSchema = trainingSchema.extend({
  epochs: positiveInt.max(1000).default(3),
  learningRate: z.number().positive().max(1).default(1e-5),
  /** First base layer to unfreeze; the whole base is unfrozen when omitted. */
  fromLayer: z.string().min(1).optional(),
});

export const baselineSchema = trainingSchema.extend({
  enabled: z.boolean().default(true),
  epochs: positiveInt.max(1000).default(10),
  learningRate: z.number().positive().max(1).default(1e-3),
  dropout: z.number().min(0).lt(1).default(0.2),
});

export const backendSchema = z.enum(['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']);

export const configSchema = z
  .object({
    /** Pipeline name; it starts every workflow id of this configuration's runs. */
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes')
      .default('transfer-learning'),
    /** Artifact store root: a local folder, a file:// URI or s3://bucket/prefix. */
    store: z.string().default('.retrain/artifacts'),
    /** S3 connection settings for s3:// stores and models; credentials come from the AWS chain only. */
    s3: z
      .object({
        /** Endpoint of an S3-compatible server, such as http://127.0.0.1:7070; AWS S3 when omitted. */
        endpoint: z.string().url().optional(),
        region: z.string().optional(),
        /** Path-style addressing (endpoint/bucket); the default is on with a custom endpoint, off for AWS. */
        forcePathStyle: z.boolean().optional(),
        /** When the AWS SDK sends request checksums; when_required works with most S3-compatible servers. */
        checksum: z.enum(['when_required', 'when_supported']).default('when_required'),
      })
      .default({ checksum: 'when_required' }),
    dataset: datasetSchema,
    split: splitSchema.default({ train: 40, validation: 10, test: 10, seed: 1337 }),
    image: imageSchema.default({ height: 96, width: 96, fit: 'stretch' }),
    augment: augmentSchema.default({ flip: 'horizontal', rotation: 0.1, copies: 3, seed: 7 }),
    baseModel: baseModelSchema,
    head: headSchema.default({ epochs: 5, batchSize: 32, learningRate: 1e-3, dropout: 0.2 }),
    fineTune: fineTuneSchema.default({ epochs: 3, batchSize: 32, learningRate: 1e-5 }),
    baseline: baselineSchema.default({
      enabled: true,
      epochs: 10,
      batchSize: 32,
      learningRate: 1e-3,
      dropout: 0.2,
    }),
    backend: backendSchema.default('auto'),
    /** Promotion gate after evaluate; the run's model replaces the champion only if it beats it. */
    promotion: z
      .object({
        metric: z.enum(['accuracy', 'f1', 'rocAuc', 'precision', 'recall', 'loss']).default('accuracy'),
        margin: z.number().min(0).default(0.005),
      })
      .optional(),
    /** Parallel activities that resize and augment-cache are split into, so more CPU workers finish them sooner. */
    fanOut: positiveInt.max(64).default(1),
    temporal: z
      .object({
        cpuTaskQueue: z.string().default('retrain-cpu'),
        gpuTaskQueue: z.string().default('retrain-gpu'),
        /** A stage attempt that sends no heartbeat for this long is timed out and retried. */
        heartbeatTimeoutSeconds: positiveInt.default(30),
        maximumAttempts: positiveInt.default(5),
      })
      .default({
        cpuTaskQueue: 'retrain-cpu',
        gpuTaskQueue: 'retrain-gpu',
        heartbeatTimeoutSeconds: 30,
        maximumAttempts: 5,
      }),
  })
  .strict();

export type PipelineConfig = z.infer<typeof configSchema>;
export type PipelineConfigInput = z.input<typeof configSchema>;

/**
 * Validates a configuration object and resolves its relative paths against a folder.
 *
 * @throws InvalidInputError listing each invalid field by its path, what is expected and what was
 *   received.
 */
export function parseConfig(raw: unknown, source = 'configuration', baseDir = process.cwd()): PipelineConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      return `  ${where}: ${issue.message}`;
    });
    throw new InvalidInputError(`Invalid ${source}:\n${problems.join('\n')}`);
  }
  return resolvePaths(result.data, baseDir);
}

/** Reads a YAML or JSON configuration file and validates it. */
export async function loadConfigFile(file: string): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read configuration file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new InvalidInputError(
      `Configuration file ${file} is not valid YAML or JSON: ${(error as Error).message}`,
    );
  }
  return parseConfig(raw, `configuration file ${file}`, path.dirname(path.resolve(file)));
}

function resolvePaths(config: PipelineConfig, baseDir: string): PipelineConfig {
  // s3:// URIs carry the connection settings to the workers as query parameters.
  const resolveLocal = (value: string) => {
    if (value.startsWith('s3://')) return formatS3Uri(value, config.s3);
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : path.resolve(baseDir, value);
  };
  return {
    ...config,
    store: resolveLocal(config.store),
    dataset: {
      ...config.dataset,
      source:
        config.dataset.source.type === 'archive'
          ? { ...config.dataset.source, url: resolveLocal(config.dataset.source.url) }
          : { ...config.dataset.source, path: resolveLocal(config.dataset.source.path) },
    },
    baseModel: { ...config.baseModel, uri: resolveLocal(config.baseModel.uri) },
  };
}
