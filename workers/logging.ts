import { createWriteStream, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';

/**
 * Sends the worker's logs (SDK and activity logs, with their workflow id, stage and attempt) to a
 * file, or to stderr when no file is given. It must run before the first worker is created.
 */
export function installWorkerLogger(file?: string): void {
  let write: (line: string) => void = (line) => process.stderr.write(line);
  if (file) {
    mkdirSync(path.dirname(file), { recursive: true });
    const stream = createWriteStream(file, { flags: 'a' });
    write = (line) => stream.write(line);
  }
  const format = (entry: LogEntry) => {
    const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    // The task token and routine SDK fields make every line hundreds of characters long.
    const {
      sdkComponent: _component,
      taskToken: _token,
      isLocal: _local,
      namespace: _namespace,
      ...meta
    } = entry.meta ?? {};
    const fields = Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : '';
    return `${time} ${entry.level.padEnd(5)} ${entry.message}${fields}\n`;
  };
  Runtime.install({ logger: new DefaultLogger('INFO', (entry) => write(format(entry))) });
}
