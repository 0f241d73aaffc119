import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { fineTuneJob, batchNormDigest } from '../lib/compute/fine-tune';
import { trainHeadJob } from '../lib/compute/train-head';
import { openStore } from '../lib/store';
import { selectBackend } from '../lib/tf/backend';
import { registerConvGradientKernels } from '../lib/tf/conv-gradients';
import { loadStoredModel } from '../lib/tf/model-io';
import type { LayersModel, Tf } from '../lib/tf/tf';
import { loadBase } from '../lib/tf/transfer-model';
import { setTrainable } from '../lib/tf/trainable';
import { tempDir } from './helpers/data';
import { MOBILENET_V2, quietContext, writeSyntheticShard } from './helpers/model';

let tf: Tf;
before(async () => {
  ({ tf } = await selectBackend('training', 'auto'));
  registerConvGradientKernels(tf, tf.getBackend());
});

const counts = (layer: {
  weights: unknown[];
  trainableWeights: unknown[];
  nonTrainableWeights: unknown[];
}) => [layer.weights.length, layer.trainableWeights.length, layer.nonTrainableWeights.length];

test('weight counts match Keras', () => {
  const dense = tf.layers.dense({ units: 3, inputShape: [4] });
  dense.apply(tf.input({ shape: [4] }));
  assert.deepEqual(counts(dense), [2, 2, 0]);

  const batchNorm = tf.layers.batchNormalization();
  batchNorm.apply(tf.input({ shape: [4] }));
  assert.deepEqual(counts(batchNorm), [4, 2, 2]);

  dense.trainable = false;
  assert.deepEqual(counts(dense), [2, 0, 2]);
});

test('freezing outer model freezes nested layers', () => {
  const inner = tf.sequential({
    layers: [tf.layers.dense({ units: 2, inputShape: [3] }), tf.layers.batchNormalization()],
  });
  const input = tf.input({ shape: [3] });
  const outer = tf.model({
    inputs: input,
    outputs: tf.layers.dense({ units: 1 }).apply(inner.apply(input)) as never,
  });
  assert.equal(outer.trainableWeights.length, 6);
  setTrainable(outer, false);
  assert.equal(outer.trainableWeights.length, 0);
  assert.equal(outer.nonTrainableWeights.length, 8);
  assert.equal(inner.trainableWeights.length, 0);
  assert.ok(inner.layers.every((layer) => !layer.trainable));
  setTrainable(outer, true);
  assert.equal(outer.trainableWeights.length, 6);
});

test('tfjs BatchNormalization updates statistics when training', async () => {
  // The reason retrain never calls the base with training=true: tfjs ignores `trainable` here.
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 2, inputShape: [2] }), tf.layers.batchNormalization()],
  });
  model.layers[1].trainable = false;
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const before = batchNormDigest(model);
  await model.fit(tf.randomNormal([16, 2], 5, 2), tf.zeros([16, 2]), { epochs: 1, verbose: 0 });
  assert.notEqual(batchNormDigest(model), before);
});

test('head training and fine-tuning keep base semantics', async () => {
  const store = openStore(tempDir());
  const size = 32;
  const train = [await writeSyntheticShard(store, 'data/train', 24, size, 1)];
  const validation = [await writeSyntheticShard(store, 'data/validation', 8, size, 2)];
  const baseModel = {
    uri: MOBILENET_V2,
    outputLayer: 'out_relu',
    preprocessing: { scale: 1 / 255, offset: 0 },
  };
  const original = await loadBase(tf, baseModel, size, size);
  const weightsOf = (model: LayersModel, names: RegExp) =>
    Object.fromEntries(
      model.weights
        .filter((w) => names.test(w.originalName))
        .map((w) => [w.originalName, Array.from(w.read().dataSync())]),
    );

  const head = await trainHeadJob(
    {
      storeUri: store.root,
      attemptPrefix: 'head',
      backend: 'auto',
      baseModel,
      height: size,
      width: size,
      numClasses: 2,
      epochs: 2,
      batchSize: 8,
      learningRate: 1e-2,
      dropout: 0.2,
      seed: 1,
      trainCopies: [train],
      validation,
    },
    quietContext,
  );
  const afterHead = await loadStoredModel(tf, store, head.model, 'train-head');
  const baseAfterHead = afterHead.layers.find((layer) => layer.name === original.name) as LayersModel;
  assert.ok(baseAfterHead, 'the saved model nests the base');
  assert.deepEqual(
    weightsOf(baseAfterHead, /./),
    weightsOf(original, /./),
    'frozen base weights changed during head training',
  );
  assert.equal(batchNormDigest(baseAfterHead), batchNormDigest(original));
  assert.equal(head.parameters.trainable, 1281);
  assert.equal(head.history.loss.length, 2);

  const tuned = await fineTuneJob(
    {
      storeUri: store.root,
      attemptPrefix: 'tune',
      backend: 'auto',
      baseModel,
      height: size,
      width: size,
      numClasses: 2,
      epochs: 1,
      batchSize: 8,
      learningRate: 1e-3,
      dropout: 0.2,
      fromLayer: 'block_16_expand',
      seed: 1,
      head: head.head,
      trainCopies: [train],
      validation,
    },
    quietContext,
  );
  assert.equal(tuned.batchNormStatistics.before, tuned.batchNormStatistics.after);
  const afterTune = (await loadStoredModel(tf, store, tuned.model, 'fine-tune')).layers.find(
    (layer) => layer.name === original.name,
  ) as LayersModel;
  assert.equal(
    batchNormDigest(afterTune),
    batchNormDigest(original),
    'moving statistics changed during fine-tuning',
  );
  assert.deepEqual(
    weightsOf(afterTune, /^block_15_/),
    weightsOf(original, /^block_15_/),
    'layers below fromLayer changed',
  );
  assert.notDeepEqual(
    weightsOf(afterTune, /^Conv_1\/kernel/),
    weightsOf(original, /^Conv_1\/kernel/),
    'unfrozen top did not train',
  );
});
