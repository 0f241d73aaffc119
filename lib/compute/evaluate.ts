import type { ShardRef } from '../data/shards';
import { classificationMetrics, type ClassificationMetrics } from '../metrics';
import { openStore } from '../store';
import type { BackendPreference } from '../tf/backend';
import { loadStoredModel, type StoredModel } from '../tf/model-io';
import type { Tensor } from '../tf/tf';
import { initBackend, type JobContext } from './context';
import { loadImages } from './datasets';

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
  const test = await loadImages(store, input.test, 'resize');
  const count = test.shape[0];
  const size = test.shape.slice(1).reduce((a, b) => a * b, 1);
  const results: Record<string, ModelEvaluation> = {};

  for (const [name, { model: stored, writtenBy }] of Object.entries(input.models)) {
    const model = await loadStoredModel(tf, store, stored, writtenBy);
    const columns = input.numClasses === 2 ? 1 : input.numClasses;
    const probabilities = new Float32Array(count * columns);
    for (let start = 0; start < count; start += input.batchSize) {
      const end = Math.min(count, start + input.batchSize);
      const values = tf.tidy(() => {
        const batch = tf.tensor(Float32Array.from(test.x.subarray(start * size, end * size)), [
          end - start,
          ...test.shape.slice(1),
        ]);
        const logits = model.predict(batch) as Tensor;
        return (columns === 1 ? tf.sigmoid(logits) : tf.softmax(logits)).dataSync() as Float32Array;
      });
      probabilities.set(values, start * columns);
      context.progress({
        phase: `evaluate ${name}`,
        fraction: end / count,
        message: `${end}/${count} images`,
      });
    }
    const metrics = classificationMetrics(probabilities, test.labels, input.numClasses);
    const predictions = [...Array(count).keys()].map((index) => {
      const scores =
        columns === 1
          ? [1 - probabilities[index], probabilities[index]]
          : [...probabilities.subarray(index * columns, (index + 1) * columns)];
      const predicted = scores.indexOf(Math.max(...scores));
      return { index, label: test.labels[index], predicted, confidence: scores[predicted] };
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
