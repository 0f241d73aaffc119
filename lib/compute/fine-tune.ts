import type { SymbolicTensor, Variable } from '@tensorflow/tfjs';
import { sha256 } from '../digest';
import type { ShardRef } from '../data/shards';
import { openStore } from '../store';
import type { BackendPreference } from '../tf/backend';
import type { CheckpointRef, History } from '../tf/checkpoint';
import type { ChunkedDataset } from '../tf/fit';
import { loadStoredModel, saveLayersModel, type StoredModel } from '../tf/model-io';
import type { LayersModel, Tensor } from '../tf/tf';
import { setTrainable } from '../tf/trainable';
import {
  applyHead,
  assembleModel,
  createHead,
  loadBase,
  splitBase,
  type BaseModelOptions,
} from '../tf/transfer-model';
import { fitWithCheckpoints } from './checkpointed-fit';
import { initBackend, type JobContext } from './context';
import {
  cacheGroupOutputs,
  cachedOutputChunks,
  countOf,
  imageChunks,
  trainingGroups,
  type CachedOutputs,
} from './datasets';

export interface FineTuneJobInput {
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
  fromLayer?: string;
  seed: number;
  head: StoredModel;
  trainCopies: ShardRef[][];
  validation: ShardRef[];
  resume?: FineTuneResume;
}

export interface FineTuneResume {
  activations: Record<string, CachedOutputs>;
  checkpoint?: CheckpointRef;
}

export interface FineTuneJobResult {
  model: StoredModel;
  history: History;
  resumedFromEpoch: number;
  /** Training throughput of this attempt's epochs, validation excluded. */
  trainingImagesPerSecond: number;
  backend: string;
  trainableLayers: number;
  parameters: { total: number; trainable: number; nonTrainable: number };
  /** Digest of every BatchNormalization moving mean and variance before and after training. */
  batchNormStatistics: { before: string; after: string };
}

/**
 * Unfreezes the base (from `fromLayer` on, or all of it), recompiles with a low learning rate and
 * trains end to end from the head's weights.
 *
 * Porting note: TensorFlow.js's BatchNormalization uses batch statistics whenever `training` is
 * true, even when the layer is frozen, whereas Keras runs a BatchNormalization layer in inference
 * mode when the base is called with `training=False`. The base (or its top) is therefore always
 * applied with `training` false, which keeps the moving mean and variance fixed while gamma, beta
 * and the convolution weights still train; only the head's Dropout sees `training` true.
 *
 * When `fromLayer` is set, the frozen layers below it run once per image and their activations are
 * cached, so each epoch only runs the unfrozen top.
 */
export async function fineTuneJob(input: FineTuneJobInput, context: JobContext): Promise<FineTuneJobResult> {
  const { tf, info } = await initBackend(context, 'training', input.backend);
  const store = openStore(input.storeUri);
  const base = await loadBase(tf, input.baseModel, input.height, input.width);
  const statisticsBefore = batchNormDigest(base);

  const activations: Record<string, CachedOutputs> = { ...(input.resume?.activations ?? {}) };
  let top: LayersModel = base;
  let dataOf: (group: string, shards: ShardRef[]) => ChunkedDataset;
  let forwardTop: (x: Tensor) => Tensor;
  const { scale, offset } = input.baseModel.preprocessing;

  if (input.fromLayer) {
    const split = splitBase(tf, base, input.fromLayer);
    top = split.top;
    const pixels = tf.input({ shape: [input.height, input.width, 3] });
    const rescaled = tf.layers.rescaling({ scale, offset }).apply(pixels);
    const bottom = tf.model({ inputs: pixels, outputs: split.bottom.apply(rescaled) as SymbolicTensor });
    await cacheGroupOutputs(
      tf,
      bottom,
      store,
      trainingGroups(input.trainCopies, input.validation),
      `${input.attemptPrefix}/activations`,
      activations,
      (progress) => context.progress(progress, { activations }),
    );
    dataOf = (group, shards) => cachedOutputChunks(store, activations[group], countOf(shards));
    forwardTop = (x) => top.apply(x, { training: false }) as Tensor;
  } else {
    dataOf = (_group, shards) => imageChunks(store, shards, 'augment-cache');
    forwardTop = (x) => base.apply(tf.add(tf.mul(x, scale), offset), { training: false }) as Tensor;
  }

  // Keras's recipe: unfreeze the base, then re-freeze the layers below fromLayer.
  setTrainable(base, true);
  if (input.fromLayer) {
    const firstTrainable = base.layers.indexOf(base.getLayer(input.fromLayer));
    base.layers.forEach((layer, index) => setTrainable(layer, index >= firstTrainable));
  }

  const head = createHead(tf, input.numClasses, input.dropout);
  const featureSize = (base.outputs[0].shape as number[])[3];
  applyHead(tf, head, tf.zeros([1, featureSize]), false).dispose();
  const trainedHead = await loadStoredModel(tf, store, input.head, 'train-head');
  head.dense.setWeights(trainedHead.getLayer('head_logits').getWeights());

  const variables = uniqueVariables(
    [...top.trainableWeights, ...head.dense.trainableWeights].map((weight) => weight.read() as Variable),
  );
  const copies = input.trainCopies.length;
  const fitted = await fitWithCheckpoints({
    tf,
    store,
    attemptPrefix: input.attemptPrefix,
    context,
    checkpoint: input.resume?.checkpoint,
    resumeState: () => ({ activations }),
    forward: (x, training) => applyHead(tf, head, forwardTop(x), training),
    variables,
    optimizer: tf.train.adam(input.learningRate),
    numClasses: input.numClasses,
    epochs: input.epochs,
    batchSize: input.batchSize,
    seed: input.seed,
    trainingSet: (epoch) => dataOf(`train-copy-${epoch % copies}`, input.trainCopies[epoch % copies]),
    validationSet: dataOf('validation', input.validation),
    phase: 'fine-tune',
  });

  const model = assembleModel(tf, base, head, input.baseModel.preprocessing);
  const trainable = variables.reduce((sum, variable) => sum + variable.size, 0);
  return {
    model: await saveLayersModel(model, store, `${input.attemptPrefix}/model`),
    history: fitted.history,
    resumedFromEpoch: fitted.resumedFromEpoch,
    trainingImagesPerSecond: fitted.examplesPerSecond,
    backend: info.backend,
    trainableLayers: base.layers.filter((layer) => layer.trainable && layer.weights.length > 0).length,
    parameters: { total: model.countParams(), trainable, nonTrainable: model.countParams() - trainable },
    batchNormStatistics: { before: statisticsBefore, after: batchNormDigest(base) },
  };
}

/** Digest of the moving mean and variance of every BatchNormalization layer in a model. */
export function batchNormDigest(model: LayersModel): string {
  const parts: string[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    for (const weight of layer.weights) {
      if (/moving_(mean|variance)/.test(weight.name)) {
        parts.push(
          `${weight.originalName}:${Buffer.from((weight.read().dataSync() as Float32Array).buffer).toString('base64')}`,
        );
      }
    }
  }
  return sha256(parts.join('\n'));
}

function uniqueVariables(variables: Variable[]): Variable[] {
  const seen = new Set<string>();
  return variables.filter((variable) => (seen.has(variable.name) ? false : (seen.add(variable.name), true)));
}
