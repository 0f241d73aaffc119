import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { freePort, startDevServer, type DevServer } from '../../infra/temporal-server';
import { connectClient } from '../../lib/client';
import { createWorkers } from '../../workers/worker';

/**
 * Starts a real Temporal dev server for one test file, on free ports and a fresh SQLite file, so
 * that tests never touch the demo's server on 7233.
 */
export async function startTestServer(): Promise<DevServer & { dbFile: string }> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'retrain-temporal-'));
  const dbFile = path.join(folder, 'test.sqlite');
  const server = await startDevServer({
    dbFile,
    port: await freePort(),
    uiPort: await freePort(),
    logFile: path.join(folder, 'server.log'),
  });
  return { ...server, dbFile };
}

/** A dev server, in-process workers on both task queues, and a connected client, for one test file. */
export interface TestPipeline {
  server: DevServer & { dbFile: string };
  client: Client;
  stop(): Promise<void>;
}

export async function startTestPipeline(): Promise<TestPipeline> {
  const server = await startTestServer();
  const workers = await createWorkers({ address: server.address, queues: ['cpu', 'gpu'] });
  const running = workers.run();
  const connection = await connectClient(server.address);
  return {
    server,
    client: connection.client,
    stop: async () => {
      workers.shutdown();
      await running;
      await workers.close();
      await connection.close();
      await server.stop();
    },
  };
}
