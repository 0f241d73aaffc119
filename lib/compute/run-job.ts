import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ArtifactIntegrityError, InvalidInputError } from '../errors';
import type { StageProgress } from '../pipeline';
import type { JobName } from './jobs';

/** Message a compute thread posts to the activity that started it. */
export type JobMessage =
  | { type: 'progress'; progress: StageProgress; resume?: unknown }
  | { type: 'log'; level: 'info' | 'warn'; message: string; fields?: Record<string, unknown> }
  | { type: 'result'; value: unknown }
  | { type: 'error'; name: string; message: string; stack?: string };

export interface RunJobOptions {
  signal?: AbortSignal;
  onProgress?: (progress: StageProgress, resume?: unknown) => void;
  onLog?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Runs a compute job (decoding, inference, training) on a worker thread, so the activity's event
 * loop stays free to heartbeat and to notice cancellation. Aborting the signal terminates the
 * thread at once; whatever the job had committed to the store stays.
 */
export function runJob<T>(job: JobName, input: unknown, options: RunJobOptions = {}): Promise<T> {
  // libtensorflow reads this when it loads. Threads share the process environment only through
  // the main thread, so it is set here, before the thread starts.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'thread.js'), { workerData: { job, input } });
    let settled = false;
    const finish = (action: () => void) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      action();
    };
    const onAbort = () => {
      void worker.terminate();
      finish(() => reject(options.signal?.reason ?? new Error(`Compute job ${job} was cancelled.`)));
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort);

    worker.on('message', (message: JobMessage) => {
      if (message.type === 'progress') options.onProgress?.(message.progress, message.resume);
      else if (message.type === 'log') options.onLog?.(message.level, message.message, message.fields);
      else if (message.type === 'result') finish(() => resolve(message.value as T));
      else if (message.type === 'error') finish(() => reject(reviveError(message)));
    });
    worker.on('error', (error) => finish(() => reject(error)));
    worker.on('exit', (code) =>
      finish(() =>
        reject(new Error(`Compute job ${job} exited with code ${code} before returning a result.`)),
      ),
    );
  });
}

function reviveError(message: { name: string; message: string; stack?: string }): Error {
  const error =
    message.name === 'InvalidInputError'
      ? new InvalidInputError(message.message)
      : message.name === 'ArtifactIntegrityError'
        ? new ArtifactIntegrityError(message.message)
        : new Error(message.message);
  if (message.stack) error.stack = message.stack;
  return error;
}
