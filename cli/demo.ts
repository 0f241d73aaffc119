import * as path from 'node:path';
import { connectClient, startRun } from '../lib/client';
import { loadConfigFile } from '../lib/config';
import { startDevServer } from '../infra/temporal-server';
import { installWorkerLogger } from '../workers/logging';
import { createWorkers } from '../workers/worker';
import { followRun } from './follow';
import { printRunSummary } from './summary';

const stateDir = path.resolve(__dirname, '..', '..', '.retrain');
export const DEV_SERVER_DB = path.join(stateDir, 'temporal', 'dev.sqlite');
export const DEV_SERVER_LOG = path.join(stateDir, 'logs', 'temporal.log');

/**
 * Runs the demo: a dev server (started detached and left running for the Web UI, or the one at
 * TEMPORAL_ADDRESS), an in-process worker on both task queues, and one pipeline run followed to
 * the end.
 */
export async function runDemo(configFile: string): Promise<void> {
  const config = await loadConfigFile(configFile);
  const started = Date.now();

  let address = process.env.TEMPORAL_ADDRESS;
  let uiUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
  if (!address) {
    console.log('Starting the Temporal dev server (SQLite at .retrain/temporal/dev.sqlite)...');
    const server = await startDevServer({ dbFile: DEV_SERVER_DB, logFile: DEV_SERVER_LOG, detached: true });
    address = server.address;
    uiUrl = server.uiUrl;
  }

  const workerLog = path.join(stateDir, 'logs', 'worker.log');
  installWorkerLogger(workerLog);
  const workers = await createWorkers({
    address,
    queues: ['cpu', 'gpu'],
    cpuTaskQueue: config.temporal.cpuTaskQueue,
    gpuTaskQueue: config.temporal.gpuTaskQueue,
  });
  const running = workers.run();
  const { client, close } = await connectClient(address);
  try {
    const workflowId = await startRun(client, config);
    console.log(
      `Started workflow ${workflowId}; worker logs go to ${path.relative(process.cwd(), workerLog)}.\n`,
    );
    const status = await followRun(client, workflowId);
    console.log('');
    if (status.status !== 'COMPLETED') {
      console.log(
        `The run ended ${status.status}. Details: ${uiUrl}/namespaces/default/workflows/${workflowId}`,
      );
      process.exitCode = 1;
      return;
    }

    await printRunSummary(client, status, uiUrl);
    console.log(`Total:       ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (!process.env.TEMPORAL_ADDRESS) {
      console.log(
        '\nThe dev server keeps running for the Web UI; stop it with: node bin/retrain.js server stop',
      );
    }
  } finally {
    workers.shutdown();
    await running;
    await workers.close();
    await close();
  }
}
