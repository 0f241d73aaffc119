import seedrandom from 'seedrandom';
import type { StageProgress } from '../pipeline';
import { formatKerasProgress } from '../progress-format';
import type { History } from './checkpoint';
import type { Tensor, Tf } from './tf';

type Variable = import('@tensorflow/tfjs').Variable;
type Optimizer = import('@tensorflow/tfjs').Optimizer;

/** Examples held in memory: inputs as a flat typed array with their full shape, and labels. */
export interface InMemoryDataset {
  x: Float32Array | Uint8Array;
  /** [count, ...example shape] */
  shape: number[];
  labels: Int32Array;
}

/**
 * Examples split into chunks that are loaded one at a time, so that an epoch never keeps the whole
 * dataset in memory: one chunk per stored shard of images, or one chunk of cached features.
 */
export interface ChunkedDataset {
  /** Examples in each chunk, in chunk order. */
  sizes: number[];
  load: (chunk: number) => Promise<InMemoryDataset>;
}

/** Wraps a dataset that is already in memory as a single chunk. */
export function singleChunk(data: InMemoryDataset): ChunkedDataset {
  return { sizes: [data.shape[0]], load: async () => data };
}

export interface FitOptions {
  tf: Tf;
  /** Computes logits; `training` is true only for the optimization steps. */
  forward: (x: Tensor, training: boolean) => Tensor;
  variables: Variable[];
  optimizer: Optimizer;
  numClasses: number;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Training examples of a zero-based epoch, so that each epoch can read another augmented copy. */
  trainingSet: (epoch: number) => ChunkedDataset;
  validationSet: ChunkedDataset;
  /** Epochs already completed (restored from a checkpoint) and their history. */
  initialEpoch: number;
  history: History;
  phase: string;
  onProgress: (progress: StageProgress) => void;
  /** Called after each epoch with the number of epochs completed, before the next one starts. */
  onEpochEnd: (epochsCompleted: number, history: History) => Promise<void>;
  log: (message: string) => void;
}

const PROGRESS_INTERVAL_MS = 500;

/** Name of the accuracy metric, as Keras reports it for the loss in use. */
export function accuracyName(numClasses: number): string {
  return numClasses === 2 ? 'binary_accuracy' : 'accuracy';
}

/**
 * Trains with a custom loop, so that each part of the model can be called with its own `training`
 * flag, as Keras's guide does with `base_model(inputs, training=False)`. Each epoch visits the
 * chunks in a shuffled order and shuffles the examples within each chunk, like a shuffle buffer of
 * one chunk. Shuffling depends only on the seed and the epoch, so a run resumed from a checkpoint
 * sees the same batches.
 */
/** Result of {@link fit}: the history and the throughput of the optimization steps. */
export interface FitResult {
  history: History;
  /** Examples per second over the training steps of the epochs run here, validation excluded. */
  examplesPerSecond: number;
}

export async function fit(options: FitOptions): Promise<FitResult> {
  const { tf, numClasses, batchSize } = options;
  const history: History = structuredClone(options.history);
  const accuracy = accuracyName(numClasses);
  let trainingMs = 0;
  let trainedExamples = 0;

  for (let epoch = options.initialEpoch; epoch < options.epochs; epoch++) {
    const data = options.trainingSet(epoch);
    const chunkOrder = shuffled(data.sizes.length, seedrandom(`${options.seed}:${epoch}:chunks`));
    const steps = data.sizes.reduce((sum, size) => sum + Math.ceil(size / batchSize), 0);
    const started = Date.now();
    let lastReport = 0;
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;

    for (const chunk of chunkOrder) {
      const examples = await data.load(chunk);
      const order = shuffled(examples.shape[0], seedrandom(`${options.seed}:${epoch}:${chunk}`));
      for (let start = 0; start < order.length; start += batchSize) {
        const indices = order.slice(start, start + batchSize);
        const [batchLoss, batchCorrect] = tf.tidy(() => {
          const x = gather(tf, examples, indices);
          const y = labelsTensor(tf, examples.labels, indices, numClasses);
          let logits: Tensor | undefined;
          const loss = options.optimizer.minimize(
            () => {
              // keep() lets the logits outlive minimize()'s internal scope; tidy() below frees them.
              logits = tf.keep(options.forward(x, true));
              return lossOf(tf, y, logits, numClasses) as import('@tensorflow/tfjs').Scalar;
            },
            true,
            options.variables,
          ) as Tensor;
          const result = [
            loss.dataSync()[0],
            countCorrect(tf, logits as Tensor, examples.labels, indices, numClasses),
          ];
          logits?.dispose();
          return result;
        });
        lossSum += batchLoss * indices.length;
        correct += batchCorrect;
        seen += indices.length;
        step++;

        const now = Date.now();
        if (now - lastReport >= PROGRESS_INTERVAL_MS || step === steps) {
          lastReport = now;
          options.onProgress({
            phase: options.phase,
            epoch: epoch + 1,
            epochs: options.epochs,
            step,
            steps,
            elapsedMs: now - started,
            metrics: { [accuracy]: correct / seen, loss: lossSum / seen },
          });
        }
      }
    }

    trainingMs += Date.now() - started;
    trainedExamples += seen;
    const validation = await evaluate(options, options.validationSet);
    const epochLogs: Record<string, number> = {
      [accuracy]: correct / seen,
      loss: lossSum / seen,
      [`val_${accuracy}`]: validation.accuracy,
      val_loss: validation.loss,
    };
    for (const [name, value] of Object.entries(epochLogs)) (history[name] ??= []).push(value);
    const line = formatKerasProgress({
      phase: options.phase,
      step: steps,
      steps,
      elapsedMs: Date.now() - started,
      metrics: epochLogs,
    });
    options.log(`Epoch ${epoch + 1}/${options.epochs}\n${line}`);
    await options.onEpochEnd(epoch + 1, history);
  }
  return { history, examplesPerSecond: trainingMs > 0 ? (trainedExamples * 1000) / trainingMs : 0 };
}

/** Computes mean loss and accuracy with `training` false, one chunk at a time. */
export async function evaluate(
  options: Pick<FitOptions, 'tf' | 'forward' | 'numClasses' | 'batchSize'>,
  data: ChunkedDataset,
): Promise<{ loss: number; accuracy: number }> {
  const { tf, numClasses } = options;
  let count = 0;
  let lossSum = 0;
  let correct = 0;
  for (let chunk = 0; chunk < data.sizes.length; chunk++) {
    const examples = await data.load(chunk);
    const size = examples.shape[0];
    for (let start = 0; start < size; start += options.batchSize) {
      const indices = [...Array(Math.min(options.batchSize, size - start)).keys()].map((i) => start + i);
      tf.tidy(() => {
        const logits = options.forward(gather(tf, examples, indices), false);
        const labels = labelsTensor(tf, examples.labels, indices, numClasses);
        lossSum += lossOf(tf, labels, logits, numClasses).dataSync()[0] * indices.length;
        correct += countCorrect(tf, logits, examples.labels, indices, numClasses);
      });
    }
    count += size;
  }
  return { loss: count === 0 ? 0 : lossSum / count, accuracy: count === 0 ? 0 : correct / count };
}

/** Returns 0..count-1 in a Fisher-Yates order drawn from `random`. */
function shuffled(count: number, random: () => number): number[] {
  const order = [...Array(count).keys()];
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Copies the examples at `indices` into one float32 batch tensor. */
export function gather(tf: Tf, data: InMemoryDataset, indices: number[]): Tensor {
  const size = data.shape.slice(1).reduce((a, b) => a * b, 1);
  const batch = new Float32Array(indices.length * size);
  indices.forEach((index, row) => batch.set(data.x.subarray(index * size, (index + 1) * size), row * size));
  return tf.tensor(batch, [indices.length, ...data.shape.slice(1)], 'float32');
}

function labelsTensor(tf: Tf, labels: Int32Array, indices: number[], numClasses: number): Tensor {
  const picked = indices.map((index) => labels[index]);
  if (numClasses === 2) return tf.tensor2d(picked, [picked.length, 1], 'float32');
  return tf.oneHot(tf.tensor1d(picked, 'int32'), numClasses).toFloat();
}

function lossOf(tf: Tf, labels: Tensor, logits: Tensor, numClasses: number): Tensor {
  return numClasses === 2
    ? tf.losses.sigmoidCrossEntropy(labels, logits)
    : tf.losses.softmaxCrossEntropy(labels, logits);
}

function countCorrect(
  tf: Tf,
  logits: Tensor,
  labels: Int32Array,
  indices: number[],
  numClasses: number,
): number {
  const predicted = (
    numClasses === 2 ? tf.greaterEqual(logits, 0).reshape([-1]) : tf.argMax(logits, 1)
  ).dataSync();
  return indices.reduce((sum, index, row) => sum + (Number(predicted[row]) === labels[index] ? 1 : 0), 0);
}
