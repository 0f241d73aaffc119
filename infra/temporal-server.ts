import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { Connection } from '@temporalio/client';
import { devServerSearchAttributeFlags } from '../lib/search-attributes';

/** Pinned Temporal CLI; later tags carry a `replace` directive in go.mod, which `go install` rejects. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export interface DevServerOptions {
  /** SQLite database file; history survives a restart on the same file. */
  dbFile: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** File for the server's output; the parent's output when omitted. */
  logFile?: string;
  /** Keeps the server running after this process exits. */
  detached?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  process?: ChildProcess;
  stop(): Promise<void>;
}

/** Folder for files built once per machine, outside any checkout. */
export function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'retrain');
}

/**
 * Finds the Temporal CLI: TEMPORAL_CLI_PATH, then `temporal` on PATH, then the copy built into the
 * cache folder; builds it there with `go install` when none exists.
 *
 * @throws Error if TEMPORAL_CLI_PATH names a missing file, or the build fails.
 */
export function findTemporalCli(log: (message: string) => void = console.log): string {
  const configured = process.env.TEMPORAL_CLI_PATH;
  if (configured) {
    if (!existsSync(configured))
      throw new Error(
        `TEMPORAL_CLI_PATH is ${configured}, which does not exist. Unset it or point it at a temporal binary.`,
      );
    return configured;
  }
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;

  const binDir = path.join(cacheDir(), 'bin');
  const cached = path.join(binDir, 'temporal');
  if (existsSync(cached)) return cached;

  log(
    `Building the Temporal CLI once (go install ${TEMPORAL_CLI_MODULE}) into ${binDir}; this takes a few minutes.`,
  );
  mkdirSync(binDir, { recursive: true });
  const build = spawnSync('go', ['install', TEMPORAL_CLI_MODULE], {
    stdio: 'inherit',
    env: { ...process.env, GOBIN: binDir },
  });
  if (build.error || build.status !== 0) {
    throw new Error(
      `Building the Temporal CLI failed (${build.error?.message ?? `exit code ${build.status}`}). ` +
        'Install Go 1.24 or later, or set TEMPORAL_CLI_PATH to an existing temporal binary.',
    );
  }
  return cached;
}

/**
 * Starts `temporal server start-dev` with a SQLite file and waits until its gRPC endpoint answers.
 * A server already answering on the address is reused, and then `stop` leaves it running.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? 8233;
  const address = `${ip}:${port}`;
  const uiUrl = `http://${ip}:${uiPort}`;

  if (await isServing(address)) return { address, uiUrl, stop: async () => undefined };

  const cli = findTemporalCli();
  mkdirSync(path.dirname(options.dbFile), { recursive: true });
  if (options.logFile) mkdirSync(path.dirname(options.logFile), { recursive: true });
  const output = options.logFile ? openSync(options.logFile, 'a') : 'inherit';
  const child = spawn(
    cli,
    [
      'server',
      'start-dev',
      '--db-filename',
      options.dbFile,
      '--ip',
      ip,
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--namespace',
      options.namespace ?? 'default',
      '--log-level',
      'warn',
      ...devServerSearchAttributeFlags(),
    ],
    { stdio: ['ignore', output, output], detached: options.detached ?? false },
  );
  if (options.detached) {
    child.unref();
    writeFileSync(pidFileFor(options.dbFile), String(child.pid));
  }

  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + 60_000;
  while (!(await isServing(address))) {
    if (exited !== undefined)
      throw new Error(`temporal server start-dev exited with code ${exited} before serving on ${address}.`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal server start-dev did not respond on ${address} within 60 s.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { address, uiUrl, process: child, stop: () => stopProcess(child) };
}

/** Returns true when a Temporal frontend answers on the address. */
export async function isServing(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close();
  }
}

/** Sends SIGTERM and waits for exit, then SIGKILL after 10 s. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** File that records the process id of a detached dev server, beside its database. */
export function pidFileFor(dbFile: string): string {
  return path.join(path.dirname(dbFile), 'server.pid');
}

/**
 * Stops a detached dev server started on a database file: SIGTERM, then SIGKILL after 10 s.
 * Returns false when no server was recorded or it had already exited.
 */
export async function stopDetachedServer(dbFile: string): Promise<boolean> {
  const pidFile = pidFileFor(dbFile);
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  rmSync(pidFile);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || !alive()) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
  return true;
}

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
