import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../lib/errors';
import { selectBackend } from '../lib/tf/backend';
import type { Tf } from '../lib/tf/tf';

test('auto selects native TensorFlow', async () => {
  const { tf, info } = await selectBackend('training', 'auto');
  assert.equal(
    info.backend,
    'tensorflow',
    'npm run setup builds tfjs-node; see its [native-tensorflow] output',
  );
  assert.equal(info.native, true);
  assert.equal(info.package, '@tensorflow/tfjs-node');
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.ok(info.threads >= 1);
});

test('forced backends load or fail clearly', async () => {
  assert.equal((await selectBackend('inference', 'wasm')).info.backend, 'wasm');
  assert.equal((await selectBackend('training', 'cpu')).info.backend, 'cpu');
  await assert.rejects(selectBackend('training', 'tfjs-node-gpu'), (error: Error) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /forced backend tfjs-node-gpu cannot load/);
    return true;
  });
});

/** One Adam step of a small convolutional model from fixed weights; returns the loss and new weights. */
async function trainingStep(tf: Tf, backend: string): Promise<{ loss: number; weights: number[][] }> {
  await tf.setBackend(backend);
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 3],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        activation: 'relu',
        kernelInitializer: 'ones',
      }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: 'ones' }),
      tf.layers.batchNormalization(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 1, kernelInitializer: 'ones' }),
    ],
  });
  const x = tf.tensor4d(
    Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => ((i * 37) % 101) / 101),
    [4, 8, 8, 3],
  );
  const y = tf.tensor2d([0, 1, 0, 1], [4, 1]);
  const optimizer = tf.train.adam(0.01);
  const loss = optimizer.minimize(
    () => tf.losses.sigmoidCrossEntropy(y, model.apply(x, { training: false }) as never),
    true,
  ) as never as {
    dataSync(): Float32Array;
  };
  return {
    loss: loss.dataSync()[0],
    weights: model.getWeights().map((weight) => Array.from(weight.dataSync())),
  };
}

test('native training step matches cpu', async () => {
  const { tf } = await selectBackend('training', 'auto');
  const native = await trainingStep(tf, 'tensorflow');
  const reference = await trainingStep(tf, 'cpu');
  assert.ok(Math.abs(native.loss - reference.loss) < 1e-4, `loss ${native.loss} vs ${reference.loss}`);
  native.weights.forEach((values, i) => {
    const maxError = Math.max(...values.map((value, k) => Math.abs(value - reference.weights[i][k])));
    assert.ok(maxError < 1e-4, `weight ${i} differs by ${maxError}`);
  });
});
