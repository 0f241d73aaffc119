/** Test-set metrics as the evaluate stage reports them; binary tasks treat class 1 as positive. */
export interface ClassificationMetrics {
  loss: number;
  accuracy: number;
  /** Binary: of class 1. Multi-class: macro average over classes. */
  precision: number;
  recall: number;
  f1: number;
  /** Binary: ROC AUC of class 1's score. Multi-class: macro average of one-vs-rest AUCs. */
  rocAuc: number;
  /** confusionMatrix[true][predicted] */
  confusionMatrix: number[][];
  /** Binary only: ROC curve points as [false positive rate, true positive rate]. */
  rocCurve?: [number, number][];
}

const EPSILON = 1e-7;

/**
 * Computes metrics from predicted probabilities: one column (the sigmoid of the logit) for binary
 * tasks, one column per class (softmax) otherwise.
 */
export function classificationMetrics(
  probabilities: Float32Array,
  labels: Int32Array,
  numClasses: number,
): ClassificationMetrics {
  const n = labels.length;
  const columns = numClasses === 2 ? 1 : numClasses;
  if (probabilities.length !== n * columns) {
    throw new Error(
      `Expected ${n * columns} probabilities for ${n} examples and ${numClasses} classes, got ${probabilities.length}.`,
    );
  }
  const classProbability = (i: number, k: number) =>
    columns === 1 ? (k === 1 ? probabilities[i] : 1 - probabilities[i]) : probabilities[i * columns + k];

  const confusionMatrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let predicted = 0;
    if (columns === 1) predicted = probabilities[i] >= 0.5 ? 1 : 0;
    else
      for (let k = 1; k < numClasses; k++)
        if (classProbability(i, k) > classProbability(i, predicted)) predicted = k;
    confusionMatrix[labels[i]][predicted]++;
    loss -= Math.log(Math.min(1 - EPSILON, Math.max(EPSILON, classProbability(i, labels[i]))));
  }

  const perClass = [...Array(numClasses).keys()].map((k) => {
    const truePositives = confusionMatrix[k][k];
    const predictedPositives = confusionMatrix.reduce((sum, row) => sum + row[k], 0);
    const actualPositives = confusionMatrix[k].reduce((sum, value) => sum + value, 0);
    const precision = predictedPositives === 0 ? 0 : truePositives / predictedPositives;
    const recall = actualPositives === 0 ? 0 : truePositives / actualPositives;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    const scores = Float64Array.from({ length: n }, (_, i) => classProbability(i, k));
    const positives = Array.from(labels, (label) => label === k);
    return { precision, recall, f1, auc: rocAuc(scores, positives) };
  });

  const correct = confusionMatrix.reduce((sum, row, k) => sum + row[k], 0);
  const mean = (key: 'precision' | 'recall' | 'f1' | 'auc') =>
    perClass.reduce((sum, c) => sum + c[key], 0) / numClasses;
  const binary = numClasses === 2;
  return {
    loss: n === 0 ? 0 : loss / n,
    accuracy: n === 0 ? 0 : correct / n,
    precision: binary ? perClass[1].precision : mean('precision'),
    recall: binary ? perClass[1].recall : mean('recall'),
    f1: binary ? perClass[1].f1 : mean('f1'),
    rocAuc: binary ? perClass[1].auc : mean('auc'),
    confusionMatrix,
    rocCurve: binary
      ? rocCurve(
          Float64Array.from({ length: n }, (_, i) => classProbability(i, 1)),
          Array.from(labels, (label) => label === 1),
        )
      : undefined,
  };
}

/** ROC AUC as the Mann-Whitney statistic: the chance that a positive outranks a negative (ties count half). */
export function rocAuc(scores: Float64Array, positives: boolean[]): number {
  const order = [...scores.keys()].sort((a, b) => scores[a] - scores[b]);
  const ranks = new Float64Array(scores.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]] === scores[order[start]]) end++;
    const rank = (start + end) / 2 + 1;
    for (let i = start; i <= end; i++) ranks[order[i]] = rank;
    start = end + 1;
  }
  const positiveCount = positives.filter(Boolean).length;
  const negativeCount = positives.length - positiveCount;
  if (positiveCount === 0 || negativeCount === 0) return Number.NaN;
  const positiveRankSum = positives.reduce((sum, positive, i) => (positive ? sum + ranks[i] : sum), 0);
  return (positiveRankSum - (positiveCount * (positiveCount + 1)) / 2) / (positiveCount * negativeCount);
}

function rocCurve(scores: Float64Array, positives: boolean[]): [number, number][] {
  const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a]);
  const positiveCount = positives.filter(Boolean).length || 1;
  const negativeCount = positives.length - positives.filter(Boolean).length || 1;
  const points: [number, number][] = [[0, 0]];
  let truePositives = 0;
  let falsePositives = 0;
  order.forEach((index, position) => {
    if (positives[index]) truePositives++;
    else falsePositives++;
    const next = order[position + 1];
    if (next === undefined || scores[next] !== scores[index])
      points.push([falsePositives / negativeCount, truePositives / positiveCount]);
  });
  return points;
}
