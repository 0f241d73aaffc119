import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { connectClient, describeRun, startRun, type RunClient } from '../lib/client';
import { parseConfig, type PipelineConfigInput } from '../lib/config';
import type { PipelineRunResult, StageManifest } from '../lib/pipeline';
import { cancelRun, listRuns, retryRun, runHistory } from '../lib/runs';
import { openStore, readArtifact } from '../lib/store';
import { stopProcess } from '../infra/temporal-server';
import { createWorkers, type WorkerSet } from '../workers/worker';
import { tempDir } from './helpers/data';
import { startModelServer, type ModelServer } from './helpers/model-server';
import { startTestServer } from './helpers/temporal';

let server: Awaited<ReturnType<typeof startTestServer>>;
let connection: RunClient;
let models: ModelServer;

before(async () => {
  server = await startTestServer();
  connection = await connectClient(server.address);
  models = await startModelServer();
});

after(async () => {
  await connection.close();
  await models.close();
  await server.stop();
});

function config(store: string, overrides: Partial<PipelineConfigInput> = {}) {
  return parseConfig({
    name: 'durable',
    store,
    dataset: {
      source: { type: 'fashion-mnist', subset: 'test' },
      classes: ['Sneaker', 'Bag'],
      maxPerClass: 40,
    },
    split: { train: 50, validation: 25, test: 25, seed: 5 },
    image: { height: 32, width: 32 },
    augment: { copies: 1 },
    baseModel: { uri: models.url, outputLayer: 'out_relu' },
    head: { epochs: 3, batchSize: 16, learningRate: 0.01 },
    fineTune: { epochs: 1, batchSize: 16, fromLayer: 'block_16_expand' },
    baseline: { enabled: false },
    temporal: { heartbeatTimeoutSeconds: 5, maximumAttempts: 4 },
    ...overrides,
  });
}

/** Runs in-process workers on both task queues for the duration of a test body. */
async function withWorkers<T>(body: () => Promise<T>): Promise<T> {
  const workers: WorkerSet = await createWorkers({ address: server.address, queues: ['cpu', 'gpu'] });
  const running = workers.run();
  try {
    return await body();
  } finally {
    workers.shutdown();
    await running;
    await workers.close();
  }
}

const result = (workflowId: string) =>
  connection.client.workflow.getHandle(workflowId).result() as Promise<PipelineRunResult>;

test('transient failures retry until success', async () => {
  models.failures = 2;
  await withWorkers(async () => {
    const workflowId = await startRun(connection.client, config(tempDir('retrain-store-')));
    const run = await result(workflowId);
    assert.equal(run.stages['train-head'].manifest.attempt, 3);
    assert.equal(run.stages.download.manifest.attempt, 1);
    const timeline = await runHistory(connection.client, workflowId);
    assert.equal(timeline.find((stage) => stage.stage === 'train-head')?.attempts, 3);
  });
  assert.equal(models.failures, 0);
});

test('retry reruns only failed stages', async () => {
  const store = tempDir('retrain-store-');
  models.missing = true;
  const failed = await withWorkers(async () => {
    const workflowId = await startRun(connection.client, config(store));
    await assert.rejects(result(workflowId), (error: Error) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(
        String(error.cause?.message),
        /Stage train-head failed: Cannot read the base model .* HTTP 404/,
      );
      return true;
    });
    return workflowId;
  });
  const failedTimeline = await runHistory(connection.client, failed);
  assert.equal(
    failedTimeline.find((stage) => stage.stage === 'train-head')?.attempts,
    1,
    '404 is bad input, not retried',
  );

  models.missing = false;
  const retried = await withWorkers(async () => {
    const retried = await retryRun(connection.client, failed);
    assert.notEqual(retried, failed);
    await result(retried);
    const outcomes = Object.fromEntries(
      (await runHistory(connection.client, retried)).map((stage) => [stage.stage, stage.outcome]),
    );
    assert.deepEqual(outcomes, {
      download: 'cached',
      split: 'cached',
      resize: 'cached',
      'augment-cache': 'cached',
      'train-head': 'done',
      'fine-tune': 'done',
      evaluate: 'done',
    });
    return retried;
  });
  await assert.rejects(retryRun(connection.client, retried), /is COMPLETED; only failed, cancelled/);

  const runs = await listRuns(connection.client, 50);
  assert.ok(runs.some((run) => run.workflowId === failed && run.status === 'FAILED'));
});

test('cancel during fine-tune keeps artifacts', async () => {
  const store = tempDir('retrain-store-');
  await withWorkers(async () => {
    const workflowId = await startRun(
      connection.client,
      config(store, { fineTune: { epochs: 500, batchSize: 8 } }),
    );
    for (;;) {
      const status = await describeRun(connection.client, workflowId);
      const fineTune = status.stages.find((stage) => stage.name === 'fine-tune');
      if (fineTune?.status === 'running' && (fineTune.progress?.epoch ?? 0) >= 2) break;
      assert.equal(status.status, 'RUNNING');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await cancelRun(connection.client, workflowId);
    await assert.rejects(result(workflowId));
    const status = await describeRun(connection.client, workflowId);
    assert.equal(status.status, 'CANCELLED');

    const history = await connection.client.workflow.getHandle(workflowId).fetchHistory();
    const completed = (history.events ?? [])
      .map((event) => event.activityTaskCompletedEventAttributes?.result?.payloads?.[0])
      .filter((payload) => payload !== undefined)
      .map(
        (payload) =>
          (
            connection.client.options.loadedDataConverter.payloadConverter.fromPayload(payload) as {
              manifest: StageManifest;
            }
          ).manifest,
      );
    assert.deepEqual(
      completed.map((manifest) => manifest.stage),
      ['download', 'split', 'resize', 'augment-cache', 'train-head'],
    );
    const artifactStore = openStore(store);
    for (const manifest of completed) {
      for (const artifact of Object.values(manifest.artifacts))
        await readArtifact(artifactStore, artifact, manifest.stage);
    }

    // The cancelled attempt stops: no checkpoint appears after it has had time to notice.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const checkpoints = await artifactStore.list('stages/fine-tune/');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.deepEqual(await artifactStore.list('stages/fine-tune/'), checkpoints);
  });
});

test('killed worker resumes from checkpoint', async () => {
  const cli = path.resolve(__dirname, '..', '..', 'bin', 'retrain.js');
  const startWorker = (): ChildProcess =>
    spawn(
      process.execPath,
      [cli, 'worker', '--address', server.address, '--log-file', path.join(tempDir(), 'worker.log')],
      { stdio: 'ignore' },
    );
  const workflowId = await startRun(
    connection.client,
    config(tempDir('retrain-store-'), {
      head: { epochs: 400, batchSize: 2, learningRate: 0.001 },
      temporal: { heartbeatTimeoutSeconds: 3, maximumAttempts: 3 },
    }),
  );

  let worker = startWorker();
  let killedAtEpoch = 0;
  try {
    for (;;) {
      const raw = await connection.client.workflowService.describeWorkflowExecution({
        namespace: 'default',
        execution: { workflowId },
      });
      const pending = raw.pendingActivities?.find((activity) => activity.activityType?.name === 'trainHead');
      const payload = pending?.heartbeatDetails?.payloads?.[0];
      const details = payload
        ? (connection.client.options.loadedDataConverter.payloadConverter.fromPayload(payload) as {
            resume?: { checkpoint?: { epoch: number } };
          })
        : undefined;
      if ((details?.resume?.checkpoint?.epoch ?? 0) >= 5) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));

    // What the server recorded last is what the next attempt receives.
    const raw = await connection.client.workflowService.describeWorkflowExecution({
      namespace: 'default',
      execution: { workflowId },
    });
    const payload = raw.pendingActivities?.find((activity) => activity.activityType?.name === 'trainHead')
      ?.heartbeatDetails?.payloads?.[0];
    killedAtEpoch = (
      connection.client.options.loadedDataConverter.payloadConverter.fromPayload(payload!) as {
        resume: { checkpoint: { epoch: number } };
      }
    ).resume.checkpoint.epoch;

    worker = startWorker();
    const run = await result(workflowId);
    const head = run.stages['train-head'].manifest;
    assert.equal(head.attempt, 2);
    assert.equal(head.counts.resumedFromEpoch, killedAtEpoch);
    assert.ok(killedAtEpoch >= 5, `killed at epoch ${killedAtEpoch}`);
    assert.ok(killedAtEpoch < 400, `killed at epoch ${killedAtEpoch}`);
    assert.equal((head.info.history as Record<string, number[]>).loss.length, 400);
  } finally {
    await stopProcess(worker);
  }
});

test('SIGTERM shuts worker down gracefully', async () => {
  const cli = path.resolve(__dirname, '..', '..', 'bin', 'retrain.js');
  const startWorker = (): ChildProcess =>
    spawn(
      process.execPath,
      [cli, 'worker', '--address', server.address, '--log-file', path.join(tempDir(), 'worker.log')],
      {
        stdio: 'ignore',
      },
    );
  const workflowId = await startRun(
    connection.client,
    config(tempDir('retrain-store-'), {
      head: { epochs: 300, batchSize: 2, learningRate: 0.001 },
      temporal: { heartbeatTimeoutSeconds: 3, maximumAttempts: 3 },
    }),
  );

  let worker = startWorker();
  try {
    for (;;) {
      const status = await describeRun(connection.client, workflowId);
      const head = status.stages.find((stage) => stage.name === 'train-head');
      if (head?.status === 'running' && (head.progress?.epoch ?? 0) >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const stopping = Date.now();
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.kill('SIGTERM');
    const code = await exited;
    const seconds = (Date.now() - stopping) / 1000;
    assert.equal(code, 0, 'the worker should exit cleanly on SIGTERM');
    assert.ok(seconds < 30, `the worker took ${seconds} s to stop; its shutdown grace time is 10 s`);

    // The interrupted attempt hands back through Temporal; a new worker resumes from its checkpoint.
    worker = startWorker();
    const run = await result(workflowId);
    const head = run.stages['train-head'].manifest;
    assert.ok(head.attempt >= 2, `train-head committed on attempt ${head.attempt}`);
    assert.ok(head.counts.resumedFromEpoch >= 3, `resumed from epoch ${head.counts.resumedFromEpoch}`);
  } finally {
    await stopProcess(worker);
  }
});
