import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { describeRun, startRun } from '../lib/client';
import { parseConfig, type PipelineConfigInput } from '../lib/config';
import type { PipelineRunResult, StageState } from '../lib/pipeline';
import { tempDir } from './helpers/data';
import { countColor, screenshot } from './helpers/chromium';
import { MOBILENET_V2 } from './helpers/model';
import { startTestPipeline, type TestPipeline } from './helpers/temporal';

let pipeline: TestPipeline;

before(async () => {
  pipeline = await startTestPipeline();
});

after(() => pipeline.stop());

/** Builds a configuration on a tiny real slice of Debian's Fashion-MNIST: 2 classes, 40 images each, 32 px. */
function tinyConfig(store: string, overrides: Partial<PipelineConfigInput> = {}) {
  return parseConfig({
    name: 'tiny',
    store,
    dataset: {
      source: { type: 'fashion-mnist', subset: 'test' },
      classes: ['Trouser', 'Bag'],
      maxPerClass: 40,
    },
    split: { train: 50, validation: 25, test: 25, seed: 3 },
    image: { height: 32, width: 32 },
    augment: { copies: 2 },
    baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
    head: { epochs: 6, batchSize: 16, learningRate: 0.01 },
    fineTune: { epochs: 1, batchSize: 16, fromLayer: 'block_16_expand' },
    baseline: { epochs: 1, batchSize: 16 },
    temporal: { heartbeatTimeoutSeconds: 20, maximumAttempts: 2 },
    fanOut: 2,
    ...overrides,
  });
}

test('pipeline runs all stages on real images', async () => {
  const store = tempDir('retrain-store-');
  const config = tinyConfig(store);
  const { client } = pipeline;

  const workflowId = await startRun(client, config);
  assert.match(workflowId, /^tiny-\d{8}T\d{9}Z$/);
  const result = (await client.workflow.getHandle(workflowId).result()) as PipelineRunResult;

  const expected = [
    'download',
    'split',
    'resize',
    'augment-cache',
    'train-head',
    'fine-tune',
    'train-baseline',
    'evaluate',
  ];
  assert.deepEqual(Object.keys(result.stages).sort(), [...expected].sort());
  for (const name of expected) assert.equal(result.stages[name].cached, false, `${name} should have run`);

  // npm run setup builds tfjs-node, so the training stages must report native TensorFlow.
  assert.equal(result.stages['train-head'].manifest.info.backend, 'tensorflow');
  assert.equal(result.stages['fine-tune'].manifest.info.backend, 'tensorflow');

  const split = result.stages.split.manifest.counts;
  assert.deepEqual([split.train, split.validation, split.test], [40, 20, 20]);
  assert.equal(split['train:Trouser'], 20);

  const evaluation = result.stages.evaluate.manifest;
  for (const name of ['accuracy', 'precision', 'recall', 'f1', 'rocAuc']) {
    assert.ok(
      evaluation.metrics[name] >= 0 && evaluation.metrics[name] <= 1,
      `${name} = ${evaluation.metrics[name]}`,
    );
  }
  assert.ok(
    evaluation.metrics.accuracy > 0.7,
    `Trouser vs Bag should be easy; accuracy ${evaluation.metrics.accuracy}`,
  );
  const confusion = evaluation.info.confusionMatrix as number[][];
  assert.equal(
    confusion.flat().reduce((a, b) => a + b, 0),
    20,
  );
  assert.ok(existsSync(fileURLToPath(evaluation.artifacts['report.md'].uri)));
  const html = readFileSync(fileURLToPath(evaluation.artifacts['report.html'].uri), 'utf8');
  assert.match(html, /<svg class="chart"/);
  assert.equal(
    (html.match(/<img src="data:image\/png;base64,/g) ?? []).length,
    20,
    'one grid image per test image',
  );
  const png = path.join(tempDir(), 'pipeline-report.png');
  screenshot(fileURLToPath(evaluation.artifacts['report.html'].uri), png);
  assert.ok(
    (await countColor(png, [0x1f, 0x77, 0xb4])) > 300,
    'charts of the pipeline report did not render',
  );
  assert.ok(existsSync(fileURLToPath(result.stages['fine-tune'].manifest.artifacts['model.json'].uri)));

  const status = await describeRun(client, workflowId);
  assert.equal(status.status, 'COMPLETED');
  assert.deepEqual(
    status.stages.map((stage: StageState) => stage.status),
    expected.map(() => 'done'),
  );

  // A second run with the same data and configuration is served from the cache.
  const again = await startRun(client, config);
  const cachedResult = (await client.workflow.getHandle(again).result()) as PipelineRunResult;
  for (const name of expected)
    assert.equal(cachedResult.stages[name].cached, true, `${name} should be cached`);
  assert.deepEqual(cachedResult.stages.evaluate.manifest.metrics, evaluation.metrics);
  const cachedStatus = await describeRun(client, again);
  assert.ok(cachedStatus.stages.every((stage) => stage.status === 'cached'));
});

test('bad class fails without retry', async () => {
  const config = tinyConfig(tempDir('retrain-store-'), {
    dataset: { source: { type: 'fashion-mnist', subset: 'test' }, classes: ['Trouser', 'Hat'] },
  });
  const workflowId = await startRun(pipeline.client, config);
  await assert.rejects(pipeline.client.workflow.getHandle(workflowId).result(), (error: Error) => {
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(
      String(error.cause?.message),
      /Stage download failed: Class "Hat" is not a Fashion-MNIST class/,
    );
    return true;
  });
  const status = await describeRun(pipeline.client, workflowId);
  const download = status.stages.find((stage) => stage.name === 'download');
  assert.equal(download?.status, 'failed');
  assert.equal(download?.attempt, 1);
  assert.ok(
    status.stages.filter((stage) => stage.name !== 'download').every((stage) => stage.status === 'skipped'),
  );
});
