import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { currentChampion } from '../activities/promote';
import { startRun } from '../lib/client';
import { buildBaseline } from '../lib/compute/baseline';
import { parseConfig } from '../lib/config';
import type { PipelineRunResult } from '../lib/pipeline';
import { openStore } from '../lib/store';
import { selectBackend } from '../lib/tf/backend';
import { saveLayersModel } from '../lib/tf/model-io';
import { tempDir } from './helpers/data';
import { MOBILENET_V2 } from './helpers/model';
import { startTestPipeline, type TestPipeline } from './helpers/temporal';

let pipeline: TestPipeline;

before(async () => {
  pipeline = await startTestPipeline();
});

after(() => pipeline.stop());

test('promotion gate keeps better champion', async () => {
  const store = tempDir('retrain-store-');
  const config = parseConfig({
    name: 'gated',
    store,
    dataset: {
      source: { type: 'fashion-mnist', subset: 'test' },
      classes: ['Trouser', 'Bag'],
      maxPerClass: 40,
    },
    split: { train: 50, validation: 25, test: 25, seed: 3 },
    image: { height: 32, width: 32 },
    augment: { copies: 1 },
    baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
    head: { epochs: 6, batchSize: 16, learningRate: 0.01 },
    fineTune: { epochs: 1, batchSize: 16, fromLayer: 'block_16_expand' },
    baseline: { enabled: false },
    promotion: { metric: 'accuracy', margin: 0.01 },
  });
  const run = async () => {
    const workflowId = await startRun(pipeline.client, config);
    return (await pipeline.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
  };
  const artifactStore = openStore(store);

  const first = await run();
  assert.equal(first.stages.promote.manifest.info.promoted, true);
  assert.equal(first.stages.promote.manifest.info.reason, 'no champion yet');
  const champion = await currentChampion(artifactStore, 'gated');
  assert.equal(champion?.version, 1);
  assert.deepEqual(champion?.modelJson, first.stages['fine-tune'].manifest.artifacts['model.json']);

  // The same model again: it ties with the champion, which is below the margin, so nothing changes.
  const second = await run();
  assert.equal(second.stages.evaluate.cached, true);
  assert.equal(second.stages.promote.cached, false, 'a new champion version must re-run the gate');
  assert.equal(second.stages.promote.manifest.info.promoted, false);
  assert.equal(
    second.stages.promote.manifest.info.championScore,
    second.stages.promote.manifest.info.candidateScore,
  );
  assert.equal((await currentChampion(artifactStore, 'gated'))?.version, 1);
  const report = readFileSync(
    fileURLToPath(second.stages.promote.manifest.artifacts['report.html'].uri),
    'utf8',
  );
  assert.match(report, /<h2>Promotion<\/h2>.*not promoted/s);

  // A worse champion (an untrained network) loses to the run's model, which is promoted.
  const { tf } = await selectBackend('inference', 'auto');
  const untrained = await saveLayersModel(buildBaseline(tf, 32, 32, 2, 0.2), artifactStore, 'untrained');
  await artifactStore.putIfAbsent(
    'champions/gated/v000002.json',
    Buffer.from(
      JSON.stringify({
        version: 2,
        ...untrained,
        metric: 'accuracy',
        score: 0.5,
        promotedAt: new Date().toISOString(),
      }),
    ),
  );
  const third = await run();
  const decision = third.stages.promote.manifest.info;
  assert.equal(decision.promoted, true, String(decision.reason));
  assert.ok((decision.candidateScore as number) - (decision.championScore as number) >= 0.01);
  assert.equal((await currentChampion(artifactStore, 'gated'))?.version, 3);
});
