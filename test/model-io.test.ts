import assert from 'node:assert/strict';
import { createReadStream, promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { selectBackend } from '../lib/tf/backend';
import { loadLayersModel } from '../lib/tf/model-io';
import type { Tf } from '../lib/tf/tf';
import { lastFeatureMapLayer, loadBase, splitBase } from '../lib/tf/transfer-model';
import { formatSummary, summarizeModel } from '../lib/tf/summary';
import { setTrainable } from '../lib/tf/trainable';
import { tempDir } from './helpers/data';
import { MOBILENET_V2 } from './helpers/model';

let tf: Tf;
before(async () => {
  ({ tf } = await selectBackend('inference', 'auto'));
});

test('base model loads cut and resized', async () => {
  const base = await loadLayersModel(tf, MOBILENET_V2, { inputSize: [96, 96], outputLayer: 'out_relu' });
  assert.deepEqual(base.outputs[0].shape, [null, 3, 3, 1280]);
  assert.equal(base.countParams(), 2257984);
  assert.equal(base.layers.at(-1)?.name, 'out_relu');
});

test('base model cut defaults to last feature map', async () => {
  assert.equal(await lastFeatureMapLayer(tf, MOBILENET_V2), 'out_relu');
  const base = await loadBase(
    tf,
    { uri: MOBILENET_V2, preprocessing: { scale: 1 / 255, offset: 0 } },
    64,
    64,
  );
  assert.equal(base.layers.at(-1)?.name, 'out_relu');
});

test('base model loads over HTTP', async () => {
  const folder = path.dirname(MOBILENET_V2);
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(request.url ?? '');
    const file = path.join(folder, path.basename(request.url ?? ''));
    createReadStream(file)
      .on('error', () => response.writeHead(404).end())
      .pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const base = await loadLayersModel(tf, `http://127.0.0.1:${port}/models/model.json`, {
      inputSize: [64, 64],
      outputLayer: 'out_relu',
    });
    assert.deepEqual(base.outputs[0].shape, [null, 2, 2, 1280]);
    assert.deepEqual(requests, ['/models/model.json', '/models/group1-shard1of1.bin']);
    await assert.rejects(
      loadLayersModel(tf, `http://127.0.0.1:${port}/models/missing.json`),
      /Cannot read the base model.*HTTP 404/,
    );
  } finally {
    server.close();
  }
});

test('model loader rejects unsafe and graph models', async () => {
  const folder = tempDir();
  const escaping = path.join(folder, 'escaping.json');
  await fs.writeFile(
    escaping,
    JSON.stringify({
      modelTopology: { class_name: 'Model', model_config: { class_name: 'Model', config: { layers: [] } } },
      weightsManifest: [{ paths: ['../../etc/shadow'], weights: [] }],
    }),
  );
  await assert.rejects(
    loadLayersModel(tf, escaping),
    /Weight shard path "\.\.\/\.\.\/etc\/shadow" .* points outside the model's folder/,
  );

  const graph = path.join(folder, 'graph.json');
  await fs.writeFile(
    graph,
    JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }),
  );
  await assert.rejects(
    loadLayersModel(tf, graph),
    /is a TensorFlow\.js graph model, .* cannot be fine-tuned/,
  );

  await assert.rejects(
    loadLayersModel(tf, MOBILENET_V2, { outputLayer: 'no_such_layer' }),
    /Layer "no_such_layer" is not in/,
  );
});

test('splitBase cuts at a block boundary', async () => {
  const base = await loadLayersModel(tf, MOBILENET_V2, { inputSize: [64, 64], outputLayer: 'out_relu' });
  const { bottom, top } = splitBase(tf, base, 'block_14_expand');
  assert.deepEqual(bottom.outputs[0].shape, [null, 2, 2, 160]);
  assert.deepEqual(top.inputs[0].shape, [null, 2, 2, 160]);
  const x = tf.randomUniform([2, 64, 64, 3]);
  const whole = base.predict(x) as import('@tensorflow/tfjs').Tensor;
  const composed = top.predict(
    bottom.predict(x) as import('@tensorflow/tfjs').Tensor,
  ) as import('@tensorflow/tfjs').Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(whole, composed))).dataSync()[0] < 1e-4);

  assert.throws(
    () => splitBase(tf, base, 'block_14_project'),
    /layer block_14_add also reads .* below the cut/,
  );
  assert.throws(() => splitBase(tf, base, 'nope'), /fineTune\.fromLayer "nope" is not a layer/);
});

test('model summary shows trainable column', async () => {
  const base = await loadLayersModel(tf, MOBILENET_V2, { inputSize: [32, 32], outputLayer: 'out_relu' });
  setTrainable(base, false);
  const input = tf.input({ shape: [32, 32, 3] });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(base.apply(input));
  const model = tf.model({
    inputs: input,
    outputs: tf.layers.dense({ units: 1, name: 'logits' }).apply(pooled) as never,
  });
  const summary = summarizeModel(model);
  assert.deepEqual(
    summary.layers.map((layer) => [layer.type, layer.trainable]),
    [
      ['InputLayer', false],
      ['Model', false],
      ['GlobalAveragePooling2D', true],
      ['Dense', true],
    ],
  );
  assert.equal(summary.totalParameters, 2257984 + 1281);
  assert.equal(summary.trainableParameters, 1281);
  assert.equal(summary.nonTrainableParameters, 2257984);
  const table = formatSummary(summary);
  assert.match(table, /logits \(Dense\)\s+\[None,1\]\s+1,281\s+Y/);
  assert.match(table, /Non-trainable params: 2,257,984/);
});
