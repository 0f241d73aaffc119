import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { connectClient, describeRun, startRun, type RunClient } from '../lib/client';
import { parseConfig } from '../lib/config';
import type { PipelineRunResult } from '../lib/pipeline';
import {
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  triggerSchedule,
  unpauseSchedule,
} from '../lib/schedules';
import { PIPELINE_ATTRIBUTE } from '../lib/search-attributes';
import { freePort, startDevServer } from '../infra/temporal-server';
import { createWorkers } from '../workers/worker';
import { tempDir } from './helpers/data';
import { MOBILENET_V2 } from './helpers/model';
import { startTestServer } from './helpers/temporal';

const fixtures = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');

let server: Awaited<ReturnType<typeof startTestServer>>;
let connection: RunClient;

before(async () => {
  server = await startTestServer();
  connection = await connectClient(server.address);
});

after(async () => {
  await connection.close();
  await server.stop();
});

/** Builds a configuration whose runs go to a task queue that no worker polls, so they stay running. */
function unservedConfig(name: string) {
  return parseConfig({
    name,
    store: tempDir('retrain-store-'),
    dataset: { source: { type: 'fashion-mnist' }, classes: ['Shirt', 'Coat'] },
    baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
    temporal: { cpuTaskQueue: `${name}-nobody`, gpuTaskQueue: `${name}-nobody-gpu` },
  });
}

test('recorded histories replay deterministically', async () => {
  const files = readdirSync(fixtures).filter((file) => file.endsWith('.json'));
  assert.ok(files.length >= 2, `expected replay fixtures in ${fixtures}`);
  for (const file of files) {
    const history = temporal.api.history.v1.History.fromObject(
      JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')),
    );
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../workflows') }, history, file);
  }
});

test('runs carry search attributes', async () => {
  const workflowId = await startRun(connection.client, unservedConfig('searchable'));
  const handle = connection.client.workflow.getHandle(workflowId);
  try {
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(PIPELINE_ATTRIBUTE), 'searchable');
    assert.deepEqual((description.memo?.config as Record<string, unknown>).classes, 'Shirt, Coat');
    let found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = [];
      for await (const run of connection.client.workflow.list({ query: "RetrainPipeline = 'searchable'" }))
        found.push(run.workflowId);
      if (found.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.deepEqual(found, [workflowId]);
  } finally {
    await handle.terminate('test finished');
  }
});

test('schedule lifecycle skips overlapping runs', async () => {
  const { client } = connection;
  const config = unservedConfig('weekly');
  await assert.rejects(createSchedule(client, config, {}), /Give exactly one of --cron/);
  await assert.rejects(createSchedule(client, config, { every: 'weekly' }), /Invalid --every value "weekly"/);

  const scheduleId = await createSchedule(client, config, { every: '7d' });
  assert.equal(scheduleId, 'weekly-schedule');
  try {
    let description = await describeSchedule(client, scheduleId);
    assert.equal(description.policies.overlap, 'SKIP');
    assert.equal(description.spec.intervals?.[0]?.every, 7 * 24 * 3600 * 1000);

    await triggerSchedule(client, scheduleId);
    for (let i = 0; i < 50 && (await describeSchedule(client, scheduleId)).info.numActionsTaken < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await triggerSchedule(client, scheduleId);
    for (
      let i = 0;
      i < 50 && (await describeSchedule(client, scheduleId)).info.numActionsSkippedOverlap < 1;
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    description = await describeSchedule(client, scheduleId);
    assert.equal(description.info.numActionsTaken, 1);
    assert.equal(description.info.numActionsSkippedOverlap, 1);
    const started = description.info.recentActions[0].action as { workflow: { workflowId: string } };
    assert.match(started.workflow.workflowId, /^weekly-/);

    await pauseSchedule(client, scheduleId, 'holiday');
    assert.equal((await describeSchedule(client, scheduleId)).state.paused, true);
    await unpauseSchedule(client, scheduleId);
    assert.equal((await describeSchedule(client, scheduleId)).state.paused, false);
    assert.ok((await listSchedules(client)).some((schedule) => schedule.scheduleId === scheduleId));
    await client.workflow.getHandle(started.workflow.workflowId).terminate('test finished');
  } finally {
    await deleteSchedule(client, scheduleId);
  }
  assert.equal(
    (await listSchedules(client)).some((schedule) => schedule.scheduleId === scheduleId),
    false,
  );
});

test('run survives dev server restart', async () => {
  const folder = tempDir('retrain-temporal-');
  const options = {
    dbFile: path.join(folder, 'restart.sqlite'),
    port: await freePort(),
    uiPort: await freePort(),
    logFile: path.join(folder, 'server.log'),
  };
  let restartable = await startDevServer(options);
  const workers = await createWorkers({ address: restartable.address, queues: ['cpu', 'gpu'] });
  const running = workers.run();
  const restartConnection = await connectClient(restartable.address);
  try {
    const config = parseConfig({
      name: 'restart',
      store: tempDir('retrain-store-'),
      dataset: {
        source: { type: 'fashion-mnist', subset: 'test' },
        classes: ['Trouser', 'Bag'],
        maxPerClass: 30,
      },
      split: { train: 50, validation: 25, test: 25 },
      image: { height: 32, width: 32 },
      augment: { copies: 1 },
      baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
      head: { epochs: 60, batchSize: 4 },
      fineTune: { epochs: 1, fromLayer: 'block_16_expand' },
      baseline: { enabled: false },
      temporal: { heartbeatTimeoutSeconds: 10 },
    });
    const workflowId = await startRun(restartConnection.client, config);
    for (;;) {
      const status = await describeRun(restartConnection.client, workflowId);
      if (status.stages.find((stage) => stage.name === 'train-head')?.status === 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await restartable.stop();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    restartable = await startDevServer(options);

    const result = (await restartConnection.client.workflow
      .getHandle(workflowId)
      .result()) as PipelineRunResult;
    assert.ok(result.stages.evaluate.manifest.metrics.accuracy >= 0);
    assert.equal((await describeRun(restartConnection.client, workflowId)).status, 'COMPLETED');
  } finally {
    workers.shutdown();
    await running;
    await workers.close();
    await restartConnection.close();
    await restartable.stop();
  }
});
