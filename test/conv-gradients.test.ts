import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { registerConvGradientKernels } from '../lib/tf/conv-gradients';

type Case = {
  input: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
  depthwise: boolean;
};

const cases: Case[] = [
  { input: [2, 7, 7, 3], filter: [3, 3, 3, 4], stride: 2, pad: 'valid', depthwise: false },
  { input: [2, 6, 6, 3], filter: [3, 3, 3, 4], stride: 2, pad: 'same', depthwise: false },
  { input: [2, 5, 5, 3], filter: [1, 1, 3, 4], stride: 1, pad: 'same', depthwise: false },
  { input: [2, 7, 7, 3], filter: [3, 3, 3, 1], stride: 2, pad: 'valid', depthwise: true },
  { input: [2, 6, 6, 3], filter: [3, 3, 3, 2], stride: 1, pad: 'same', depthwise: true },
  { input: [2, 6, 6, 3], filter: [3, 3, 3, 1], stride: 2, pad: 'same', depthwise: true },
];

function gradients(spec: Case): number[][] {
  const x = tf.randomNormal(spec.input, 0, 1, 'float32', 1) as tf.Tensor4D;
  const filter = tf.randomNormal(spec.filter, 0, 1, 'float32', 2) as tf.Tensor4D;
  const weights = tf.randomNormal(
    spec.depthwise
      ? tf.depthwiseConv2d(x, filter, spec.stride, spec.pad).shape
      : tf.conv2d(x, filter, spec.stride, spec.pad).shape,
    0,
    1,
    'float32',
    3,
  );
  const loss = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(
      tf.mul(
        spec.depthwise
          ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, spec.stride, spec.pad)
          : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, spec.stride, spec.pad),
        weights,
      ),
    );
  return tf
    .grads(loss)([x, filter])
    .map((gradient) => Array.from(gradient.dataSync()));
}

test('replacement convolution gradients match reference', async () => {
  await tf.setBackend('cpu');
  const reference = cases.map(gradients);
  registerConvGradientKernels(tf, 'cpu');
  cases.forEach((spec, i) => {
    const replaced = gradients(spec);
    for (const [which, name] of [
      [0, 'input'],
      [1, 'filter'],
    ] as const) {
      const maxError = Math.max(
        ...replaced[which].map((value, k) => Math.abs(value - reference[i][which][k])),
      );
      assert.ok(maxError < 1e-4, `${JSON.stringify(spec)} ${name} gradient differs by ${maxError}`);
    }
  });
});
