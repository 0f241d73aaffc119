// Entry point of a compute thread: runs one job and posts its progress, logs and result.
import { parentPort, workerData } from 'node:worker_threads';
import type { JobMessage } from './run-job';
import { jobs, type JobName } from './jobs';

const { job, input } = workerData as { job: JobName; input: unknown };
const post = (message: JobMessage) => parentPort?.postMessage(message);

jobs[job](input as never, {
  progress: (progress, resume) => post({ type: 'progress', progress, resume }),
  log: (message, fields) => post({ type: 'log', level: 'info', message, fields }),
  warn: (message, fields) => post({ type: 'log', level: 'warn', message, fields }),
})
  .then((value) => post({ type: 'result', value }))
  .catch((error: Error) =>
    post({ type: 'error', name: error.name, message: error.message, stack: error.stack }),
  );
