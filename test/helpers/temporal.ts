import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startDevServer, type DevServer } from '../../infra/temporal-server';

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
