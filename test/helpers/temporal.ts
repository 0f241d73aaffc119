import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDevServer, type DevServer } from '../../infra/temporal-server';

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

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
