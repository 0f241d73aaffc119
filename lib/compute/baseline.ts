import type { SymbolicTensor, Variable } from '@tensorflow/tfjs';
import type { ShardRef } from '../data/shards';
import { openStore } from '../store';
import type { BackendPreference } from '../tf/backend';
import type { CheckpointRef, History } from '../tf/checkpoint';
import { saveLayersModel, type StoredModel } from '../tf/model-io';
import type { LayersModel, Tensor, Tf } from '../tf/tf';
import { fitWithCheckpoints } from './checkpointed-fit';
import { initBackend, type JobContext } from './context';
import { imageChunks } from './datasets';

export interface BaselineJobInput {
  storeUri: string;
  attemptPrefix: string;
  backend: BackendPreference;
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
  resume?: { checkpoint?: CheckpointRef };
}

export interface BaselineJobResult {
  model: StoredModel;
  history: History;
  resumedFromEpoch: number;
  /** Training throughput of this attempt's epochs, validation excluded. */
  trainingImagesPerSecond: number;
  parameters: number;
  backend: string;
}

/**
 * Builds the from-scratch baseline: a small convolutional network on the same raw pixels. Inputs
 * larger than 48 px are average-pooled to about 32 px first, so that it trains in minutes on a CPU.
 */
export function buildBaseline(
  tf: Tf,
  height: number,
  width: number,
  numClasses: number,
  dropout: number,
): LayersModel {
  const input = tf.input({ shape: [height, width, 3], name: 'pixels' });
  let x = tf.layers.rescaling({ scale: 1 / 255, name: 'rescaling' }).apply(input) as SymbolicTensor;
  const pool = Math.floor(Math.min(height, width) / 32);
  if (pool > 1)
    x = tf.layers.averagePooling2d({ poolSize: pool, name: 'downsample' }).apply(x) as SymbolicTensor;
  for (const [index, filters] of [16, 32, 64].entries()) {
    x = tf.layers
      .conv2d({
        filters,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        name: `conv${index + 1}`,
      })
      .apply(x) as SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({ name: 'pooling' }).apply(x) as SymbolicTensor;
  x = tf.layers.dropout({ rate: dropout, name: 'dropout' }).apply(x) as SymbolicTensor;
  const logits = tf.layers
    .dense({ units: numClasses === 2 ? 1 : numClasses, name: 'logits' })
    .apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'baseline' });
}

/** Trains the baseline from random weights on the same augmented copies and validation split. */
export async function trainBaselineJob(
  input: BaselineJobInput,
  context: JobContext,
): Promise<BaselineJobResult> {
  const { tf, info } = await initBackend(context, 'training', input.backend);
  const store = openStore(input.storeUri);
  const model = buildBaseline(tf, input.height, input.width, input.numClasses, input.dropout);
  const copies = input.trainCopies.length;
  const fitted = await fitWithCheckpoints({
    tf,
    store,
    attemptPrefix: input.attemptPrefix,
    context,
    checkpoint: input.resume?.checkpoint,
    resumeState: () => ({}),
    forward: (x, training) => model.apply(x, { training }) as Tensor,
    variables: model.trainableWeights.map((weight) => weight.read() as Variable),
    optimizer: tf.train.adam(input.learningRate),
    numClasses: input.numClasses,
    epochs: input.epochs,
    batchSize: input.batchSize,
    seed: input.seed,
    trainingSet: (epoch) => imageChunks(store, input.trainCopies[epoch % copies], 'augment-cache'),
    validationSet: imageChunks(store, input.validation, 'resize'),
    phase: 'baseline',
  });

  return {
    model: await saveLayersModel(model, store, `${input.attemptPrefix}/model`),
    history: fitted.history,
    resumedFromEpoch: fitted.resumedFromEpoch,
    trainingImagesPerSecond: fitted.examplesPerSecond,
    parameters: model.countParams(),
    backend: info.backend,
  };
}
