import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../lib/config';
import { orderStages, type PipelineSpec, type StageSpec } from '../lib/pipeline';
import { transferLearningPipeline } from '../lib/transfer-learning';

const stage = (name: string, dependsOn: string[]): StageSpec => ({
  name,
  activity: name,
  dependsOn,
  taskQueue: 'q',
  params: {},
  startToCloseTimeoutSeconds: 1,
  heartbeatTimeoutSeconds: 1,
  maximumAttempts: 1,
});

test('orderStages sorts dependencies first', () => {
  const pipeline: PipelineSpec = {
    name: 'p',
    stages: [stage('c', ['a', 'b']), stage('b', ['a']), stage('a', [])],
  };
  assert.deepEqual(
    orderStages(pipeline).map((s) => s.name),
    ['a', 'b', 'c'],
  );
});

test('orderStages rejects cycles and unknown stages', () => {
  assert.throws(
    () => orderStages({ name: 'p', stages: [stage('a', ['b']), stage('b', ['a'])] }),
    /cycle: a -> b -> a/,
  );
  assert.throws(() => orderStages({ name: 'p', stages: [stage('a', ['ghost'])] }), /depends on ghost/);
  assert.throws(
    () => orderStages({ name: 'p', stages: [stage('a', []), stage('a', [])] }),
    /duplicate stage names/,
  );
});

test('transfer-learning DAG routes queues', () => {
  const config = parseConfig({
    dataset: { source: { type: 'fashion-mnist' } },
    baseModel: { uri: '/m/model.json', outputLayer: 'out_relu' },
  });
  const pipeline = transferLearningPipeline(config);
  const queues = Object.fromEntries(pipeline.stages.map((s) => [s.name, s.taskQueue]));
  assert.deepEqual(queues, {
    download: 'retrain-cpu',
    split: 'retrain-cpu',
    resize: 'retrain-cpu',
    'augment-cache': 'retrain-cpu',
    'train-head': 'retrain-gpu',
    'fine-tune': 'retrain-gpu',
    'train-baseline': 'retrain-gpu',
    evaluate: 'retrain-gpu',
  });
  assert.deepEqual(
    orderStages(pipeline)
      .map((s) => s.name)
      .slice(0, 4),
    ['download', 'split', 'resize', 'augment-cache'],
  );
  const withoutBaseline = transferLearningPipeline({
    ...config,
    baseline: { ...config.baseline, enabled: false },
  });
  assert.equal(
    withoutBaseline.stages.some((s) => s.name === 'train-baseline'),
    false,
  );
});
