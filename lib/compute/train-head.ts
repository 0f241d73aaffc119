import type { ShardRef } from '../data/shards';
import { openStore } from '../store';
import type { BackendPreference } from '../tf/backend';
import type { CheckpointRef, History } from '../tf/checkpoint';
import { saveLayersModel, type StoredModel } from '../tf/model-io';
import { setTrainable } from '../tf/trainable';
import { applyHead, assembleModel, createHead, loadBase, type BaseModelOptions } from '../tf/transfer-model';
import type { SymbolicTensor, Variable } from '@tensorflow/tfjs';
import { initBackend, type JobContext } from './context';
import { fitWithCheckpoints } from './checkpointed-fit';
import {
  cacheGroupOutputs,
  cachedOutputChunks,
  countOf,
  trainingGroups,
  type CachedOutputs,
} from './datasets';

export interface TrainHeadJobInput {
  storeUri: string;
  attemptPrefix: string;
  backend: BackendPreference;
  baseModel: BaseModelOptions;
  height: number;
  width: number;
  numClasses: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  dropout: number;
  seed: number;
  trainCopies: ShardRef[][];
  validation: ShardRef[];
  resume?: TrainHeadResume;
}

export interface TrainHeadResume {
  features: Record<string, CachedOutputs>;
  checkpoint?: CheckpointRef;
}

export interface TrainHeadJobResult {
  model: StoredModel;
  head: StoredModel;
  history: History;
  features: Record<string, CachedOutputs>;
  resumedFromEpoch: number;
  /** Training throughput of this attempt's epochs, validation excluded. */
  trainingImagesPerSecond: number;
  /** Feature-extraction throughput of the frozen base; 0 when every feature came from a checkpoint. */
  featureImagesPerSecond: number;
  backend: string;
  parameters: { total: number; trainable: number; nonTrainable: number };
}

/**
 * Trains a new head on a frozen base. The base runs once per image with `training` false, so its
 * BatchNormalization layers use their moving statistics. Its pooled features are cached in the
 * store and the head trains on them, which equals training the head through the frozen base.
 */
export async function trainHeadJob(
  input: TrainHeadJobInput,
  context: JobContext,
): Promise<TrainHeadJobResult> {
  const { tf, info } = await initBackend(context, 'training', input.backend);
  const store = openStore(input.storeUri);
  const base = await loadBase(tf, input.baseModel, input.height, input.width);
  setTrainable(base, false);

  const pixels = tf.input({ shape: [input.height, input.width, 3] });
  const rescaled = tf.layers
    .rescaling({ scale: input.baseModel.preprocessing.scale, offset: input.baseModel.preprocessing.offset })
    .apply(pixels);
  const pooled = tf.layers.globalAveragePooling2d({}).apply(base.apply(rescaled)) as SymbolicTensor;
  const extractor = tf.model({ inputs: pixels, outputs: pooled });

  const features: Record<string, CachedOutputs> = { ...(input.resume?.features ?? {}) };
  const extractionStarted = Date.now();
  const extractedImages = await cacheGroupOutputs(
    tf,
    extractor,
    store,
    trainingGroups(input.trainCopies, input.validation),
    `${input.attemptPrefix}/features`,
    features,
    (progress) => context.progress(progress, { features }),
  );
  const extractionSeconds = (Date.now() - extractionStarted) / 1000;

  const head = createHead(tf, input.numClasses, input.dropout);
  const featureSize = pooled.shape[1] as number;
  applyHead(tf, head, tf.zeros([1, featureSize]), false).dispose();
  const variables = head.dense.trainableWeights.map((weight) => weight.read() as Variable);

  const fitted = await fitWithCheckpoints({
    tf,
    store,
    attemptPrefix: input.attemptPrefix,
    context,
    checkpoint: input.resume?.checkpoint,
    resumeState: () => ({ features }),
    forward: (x, training) => applyHead(tf, head, x, training),
    variables,
    optimizer: tf.train.adam(input.learningRate),
    numClasses: input.numClasses,
    epochs: input.epochs,
    batchSize: input.batchSize,
    seed: input.seed,
    trainingSet: (epoch) => {
      const copy = epoch % input.trainCopies.length;
      return cachedOutputChunks(store, features[`train-copy-${copy}`], countOf(input.trainCopies[copy]));
    },
    validationSet: cachedOutputChunks(store, features.validation, countOf(input.validation)),
    phase: 'train head',
  });

  const model = assembleModel(tf, base, head, input.baseModel.preprocessing);
  const headInput = tf.input({ shape: [featureSize] });
  const headModel = tf.model({
    inputs: headInput,
    outputs: head.dense.apply(head.dropout.apply(headInput)) as SymbolicTensor,
    name: 'head',
  });
  const trainable = model.trainableWeights.reduce(
    (sum, weight) => sum + weight.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1)!,
    0,
  );
  return {
    model: await saveLayersModel(model, store, `${input.attemptPrefix}/model`),
    head: await saveLayersModel(headModel, store, `${input.attemptPrefix}/head`),
    history: fitted.history,
    features,
    resumedFromEpoch: fitted.resumedFromEpoch,
    trainingImagesPerSecond: fitted.examplesPerSecond,
    featureImagesPerSecond: extractedImages > 0 ? extractedImages / extractionSeconds : 0,
    backend: info.backend,
    parameters: { total: model.countParams(), trainable, nonTrainable: model.countParams() - trainable },
  };
}
