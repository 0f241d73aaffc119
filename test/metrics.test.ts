import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classificationMetrics, rocAuc } from '../lib/metrics';

test('binary metrics from probabilities', () => {
  const probabilities = Float32Array.from([0.9, 0.8, 0.3, 0.2, 0.6, 0.1]);
  const labels = Int32Array.from([1, 1, 1, 0, 0, 0]);
  const metrics = classificationMetrics(probabilities, labels, 2);
  assert.deepEqual(metrics.confusionMatrix, [
    [2, 1],
    [1, 2],
  ]);
  assert.equal(metrics.accuracy, 4 / 6);
  assert.equal(metrics.precision, 2 / 3);
  assert.equal(metrics.recall, 2 / 3);
  assert.ok(Math.abs(metrics.f1 - 2 / 3) < 1e-12);
  assert.ok(Math.abs(metrics.rocAuc - 8 / 9) < 1e-12);
  const expectedLoss =
    -(Math.log(0.9) + Math.log(0.8) + Math.log(0.3) + Math.log(0.8) + Math.log(0.4) + Math.log(0.9)) / 6;
  assert.ok(Math.abs(metrics.loss - expectedLoss) < 1e-6);
  assert.deepEqual(metrics.rocCurve?.[0], [0, 0]);
  assert.deepEqual(metrics.rocCurve?.at(-1), [1, 1]);
});

test('multi-class metrics use macro averages', () => {
  const probabilities = Float32Array.from([0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8, 0.6, 0.3, 0.1]);
  const labels = Int32Array.from([0, 1, 2, 2]);
  const metrics = classificationMetrics(probabilities, labels, 3);
  assert.deepEqual(metrics.confusionMatrix, [
    [1, 0, 0],
    [0, 1, 0],
    [1, 0, 1],
  ]);
  assert.equal(metrics.accuracy, 0.75);
  assert.ok(Math.abs(metrics.recall - (1 + 1 + 0.5) / 3) < 1e-12);
  assert.ok(Math.abs(metrics.precision - (0.5 + 1 + 1) / 3) < 1e-12);
  assert.equal(metrics.rocCurve, undefined);
});

test('rocAuc counts ties as half', () => {
  assert.equal(rocAuc(Float64Array.from([0.5, 0.5]), [true, false]), 0.5);
  assert.equal(rocAuc(Float64Array.from([0.1, 0.9]), [false, true]), 1);
  assert.ok(Number.isNaN(rocAuc(Float64Array.from([0.1]), [true])));
});

test('metrics reject wrong probability count', () => {
  assert.throws(
    () => classificationMetrics(new Float32Array(3), new Int32Array(2), 2),
    /Expected 2 probabilities/,
  );
});
