// Load test: N concurrent runs of a small pipeline against a local dev server with two worker
// processes. Prints runs per minute, the queue wait of each stage (scheduled to started), and
// whether any run failed or lost an artifact. Run with: npm run benchmark:load -- [runs, default 8]
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectClient, startRun } from '../lib/client';
import { parseConfig } from '../lib/config';
import type { PipelineRunResult } from '../lib/pipeline';
import { openStore, readArtifact } from '../lib/store';
import { freePort, startDevServer, stopProcess } from '../infra/temporal-server';

const root = path.resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 8);
  const work = mkdtempSync(path.join(os.tmpdir(), 'retrain-load-'));
  const server = await startDevServer({
    dbFile: path.join(work, 'temporal.sqlite'),
    port: await freePort(),
    uiPort: await freePort(),
    logFile: path.join(work, 'temporal.log'),
  });
  const workers = [0, 1].map((i) =>
    spawn(
      process.execPath,
      [
        path.join(root, 'bin', 'retrain.js'),
        'worker',
        '--address',
        server.address,
        '--log-file',
        path.join(work, `worker-${i}.log`),
      ],
      {
        stdio: 'ignore',
      },
    ),
  );
  const { client, close } = await connectClient(server.address);
  const store = path.join(work, 'artifacts');

  const started = Date.now();
  const ids = await Promise.all(
    Array.from({ length: runs }, (_, i) =>
      startRun(
        client,
        parseConfig({
          name: `load-${i}`,
          store,
          dataset: {
            source: { type: 'fashion-mnist', subset: 'test' },
            classes: ['Trouser', 'Bag'],
            maxPerClass: 30,
          },
          // A different seed per run gives each run its own split, so every stage really runs.
          split: { train: 50, validation: 25, test: 25, seed: i },
          image: { height: 32, width: 32 },
          augment: { copies: 1 },
          baseModel: {
            uri: path.join(root, '.retrain', 'models', 'mobilenet_v2', 'model.json'),
            outputLayer: 'out_relu',
          },
          head: { epochs: 2 },
          fineTune: { epochs: 1, fromLayer: 'block_16_expand' },
          baseline: { enabled: false },
        }),
      ),
    ),
  );
  const outcomes = await Promise.all(
    ids.map((id) =>
      client.workflow
        .getHandle(id)
        .result()
        .then((result) => ({ id, result: result as PipelineRunResult }))
        .catch((error: Error) => ({ id, error: error.message })),
    ),
  );
  const minutes = (Date.now() - started) / 60_000;

  const waits: Record<string, number[]> = {};
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const scheduled = new Map<string, { stage: string; at: number }>();
    for (const event of history.events ?? []) {
      const at =
        Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);
      const attributes = event.activityTaskScheduledEventAttributes;
      if (attributes) {
        const input = client.options.loadedDataConverter.payloadConverter.fromPayload(
          attributes.input?.payloads?.[0] ?? {},
        ) as { stage: string };
        scheduled.set(String(event.eventId), { stage: input.stage, at });
      }
      const startedAttributes = event.activityTaskStartedEventAttributes;
      const entry = startedAttributes ? scheduled.get(String(startedAttributes.scheduledEventId)) : undefined;
      if (entry) (waits[entry.stage] ??= []).push(at - entry.at);
    }
  }

  let lost = 0;
  const artifactStore = openStore(store);
  for (const outcome of outcomes) {
    if (!('result' in outcome)) continue;
    for (const stage of Object.values(outcome.result.stages)) {
      for (const artifact of Object.values(stage.manifest.artifacts)) {
        await readArtifact(artifactStore, artifact, stage.manifest.stage).catch(() => lost++);
      }
    }
  }
  const failed = outcomes.filter((outcome) => 'error' in outcome);

  console.log(
    `Machine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim()}, Node ${process.version}; 2 worker processes, dev server on ${server.address}`,
  );
  console.log(
    `${runs} concurrent runs in ${(minutes * 60).toFixed(1)} s: ${(runs / minutes).toFixed(2)} runs/min`,
  );
  console.log('Queue wait per stage (scheduled to started), median and max:');
  for (const [stage, values] of Object.entries(waits)) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(
      `  ${stage.padEnd(15)} ${(sorted[Math.floor(sorted.length / 2)] / 1000).toFixed(2)} s  ${(sorted[sorted.length - 1] / 1000).toFixed(2)} s`,
    );
  }
  console.log(
    `Failed runs: ${failed.length}${failed.map((outcome) => `\n  ${outcome.id}: ${(outcome as { error: string }).error}`).join('')}`,
  );
  console.log(`Lost or corrupted artifacts: ${lost}`);

  await close();
  for (const worker of workers) await stopProcess(worker);
  await server.stop();
  if (failed.length > 0 || lost > 0) process.exitCode = 1;
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
