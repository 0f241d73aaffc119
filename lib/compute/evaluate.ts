import type { ShardRef } from '../data/shards';
import { classificationMetrics, type ClassificationMetrics } from '../metrics';
import { openStore } from '../store';
import type { BackendPreference } from '../tf/backend';
import { loadStoredModel, type StoredModel } from '../tf/model-io';
import type { Tensor } from '../tf/tf';
import { initBackend, type JobContext } from './context';
import { countOf, loadImages } from './datasets';

export interface EvaluateJobInput {
  storeUri: string;
  backend: BackendPreference;
  numClasses: number;
  batchSize: number;
  test: ShardRef[];
  /** Models to compare on the same test split, by name. */
  models: Record<string, { model: StoredModel; writtenBy: string }>;
}

export interface ModelEvaluation {
  metrics: ClassificationMetrics;
  /** Test examples sorted with misclassified ones first, for reports. */
  predictions: { index: number; label: number; predicted: number; confidence: number }[];
}

/** Predicts the test split with each model (raw uint8 pixels in, as served) and computes its metrics. */
export async function evaluateJob(
  input: EvaluateJobInput,
  context: JobContext,
): Promise<Record<string, ModelEvaluation>> {
  const { tf } = await initBackend(context, 'inference', input.backend);
  const store = openStore(input.storeUri);
  const count = countOf(input.test);
  const labels = new Int32Array(count);
  const results: Record<string, ModelEvaluation> = {};

  for (const [name, { model: stored, writtenBy }] of Object.entries(input.models)) {
    const model = await loadStoredModel(tf, store, stored, writtenBy);
    const columns = input.numClasses === 2 ? 1 : input.numClasses;
    const probabilities = new Float32Array(count * columns);
    let offset = 0;
    // One test shard at a time, so that the test split never sits in memory whole.
    for (const shard of input.test) {
      const test = await loadImages(store, [shard], 'resize');
      const size = test.shape.slice(1).reduce((a, b) => a * b, 1);
      labels.set(test.labels, offset);
      for (let start = 0; start < test.shape[0]; start += input.batchSize) {
        const end = Math.min(test.shape[0], start + input.batchSize);
        const values = tf.tidy(() => {
          const batch = tf.tensor(Float32Array.from(test.x.subarray(start * size, end * size)), [
            end - start,
            ...test.shape.slice(1),
          ]);
          const logits = model.predict(batch) as Tensor;
          return (columns === 1 ? tf.sigmoid(logits) : tf.softmax(logits)).dataSync() as Float32Array;
        });
        probabilities.set(values, (offset + start) * columns);
        context.progress({
          phase: `evaluate ${name}`,
          fraction: (offset + end) / count,
          message: `${offset + end}/${count} images`,
        });
      }
      offset += test.shape[0];
    }
    const metrics = classificationMetrics(probabilities, labels, input.numClasses);
    const predictions = [...Array(count).keys()].map((index) => {
      const scores =
        columns === 1
          ? [1 - probabilities[index], probabilities[index]]
          : [...probabilities.subarray(index * columns, (index + 1) * columns)];
      const predicted = scores.indexOf(Math.max(...scores));
      return { index, label: labels[index], predicted, confidence: scores[predicted] };
    });
    predictions.sort(
      (a, b) =>
        Number(a.label === a.predicted) - Number(b.label === b.predicted) || b.confidence - a.confidence,
    );
    results[name] = { metrics, predictions };
    context.log('Evaluated model on the test split', {
      model: name,
      accuracy: metrics.accuracy,
      loss: metrics.loss,
    });
    model.dispose();
  }
  return results;
}
