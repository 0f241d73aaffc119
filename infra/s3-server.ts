import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { cacheDir, stopProcess } from './temporal-server';

/** Pinned S3-compatible gateway that serves a local folder over the S3 API. */
export const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.7.0';

export interface S3ServerOptions {
  /** Folder whose subfolders are the buckets. */
  dataDir: string;
  port: number;
  accessKey: string;
  secretKey: string;
  /** Port of the admin API, for managing IAM users; none when omitted. */
  adminPort?: number;
  logFile?: string;
}

export interface S3Server {
  endpoint: string;
  adminEndpoint?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Finds versitygw: VERSITYGW_PATH, then `versitygw` on PATH, then the copy built into the cache
 * folder; builds it there with `go install` when none exists.
 */
export function findVersitygw(log: (message: string) => void = console.log): string {
  const configured = process.env.VERSITYGW_PATH;
  if (configured) {
    if (!existsSync(configured))
      throw new Error(
        `VERSITYGW_PATH is ${configured}, which does not exist. Unset it or point it at a versitygw binary.`,
      );
    return configured;
  }
  const onPath = spawnSync('sh', ['-c', 'command -v versitygw'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const binDir = path.join(cacheDir(), 'bin');
  const cached = path.join(binDir, 'versitygw');
  if (existsSync(cached)) return cached;

  log(`Building versitygw once (go install ${VERSITYGW_MODULE}) into ${binDir}; this takes a few minutes.`);
  mkdirSync(binDir, { recursive: true });
  const build = spawnSync('go', ['install', VERSITYGW_MODULE], {
    stdio: 'inherit',
    env: { ...process.env, GOBIN: binDir },
  });
  if (build.error || build.status !== 0) {
    throw new Error(
      `Building versitygw failed (${build.error?.message ?? `exit code ${build.status}`}). Install Go 1.25 or later, or set VERSITYGW_PATH.`,
    );
  }
  return cached;
}

/**
 * Starts versitygw's posix backend on 127.0.0.1, keeping object metadata in a sidecar folder so
 * that it works on filesystems without extended attributes, and waits until it accepts connections.
 */
export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  const binary = findVersitygw();
  const buckets = path.join(options.dataDir, 'buckets');
  const sidecar = path.join(options.dataDir, 'metadata');
  mkdirSync(buckets, { recursive: true });
  mkdirSync(sidecar, { recursive: true });
  const args = [
    '--port',
    `127.0.0.1:${options.port}`,
    '--quiet',
    '--access',
    options.accessKey,
    '--secret',
    options.secretKey,
  ];
  if (options.adminPort) {
    const iam = path.join(options.dataDir, 'iam');
    mkdirSync(iam, { recursive: true });
    args.push('--admin-port', `127.0.0.1:${options.adminPort}`, '--iam-dir', iam);
  }
  args.push('posix', '--sidecar', sidecar, buckets);

  const output = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(binary, args, { stdio: ['ignore', output, output] });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + 30_000;
  while (!(await accepts(options.port))) {
    if (exited !== undefined)
      throw new Error(`versitygw exited with code ${exited} before listening on 127.0.0.1:${options.port}.`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`versitygw did not listen on 127.0.0.1:${options.port} within 30 s.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint: `http://127.0.0.1:${options.port}`,
    adminEndpoint: options.adminPort ? `http://127.0.0.1:${options.adminPort}` : undefined,
    process: child,
    stop: () => stopProcess(child),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
