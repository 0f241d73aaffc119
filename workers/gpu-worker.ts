import { InvalidInputError } from '../lib/errors';
import { detectGpus } from '../lib/gpu';
import { selectBackend } from '../lib/tf/backend';
import { createWorkers, type WorkerSet } from './worker';

export interface GpuWorkerOptions {
  address: string;
  namespace?: string;
  connection?: import('../lib/connection').ConnectionSettings;
  gpuTaskQueue?: string;
  /** Starts on the best CPU backend instead of failing when the host has no usable GPU. */
  allowCpuFallback?: boolean;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Creates a worker that polls only the GPU task queue, with tfjs-node-gpu as its backend and one
 * training activity per GPU at a time, because two trainings on one GPU contend for its memory.
 *
 * @throws InvalidInputError if no NVIDIA GPU is found or tfjs-node-gpu does not load, unless
 *   `allowCpuFallback` is set.
 */
export async function createGpuWorker(options: GpuWorkerOptions): Promise<WorkerSet> {
  const log = options.log ?? ((message, fields) => console.log(message, fields ?? ''));
  const gpus = detectGpus();
  let concurrency = Math.max(1, gpus.length);

  if (gpus.length === 0) {
    if (!options.allowCpuFallback) {
      throw new InvalidInputError(
        'No NVIDIA GPU found: nvidia-smi is missing or lists no device. Run the GPU worker on a GPU host, ' +
          'or pass --allow-cpu-fallback to train on the CPU backend.',
      );
    }
    const { info } = await selectBackend('training', 'auto');
    log('No GPU found; the GPU worker falls back to a CPU backend', { ...info });
    concurrency = 1;
  } else {
    try {
      const { info } = await selectBackend('training', 'tfjs-node-gpu');
      log('GPU worker backend selected', { ...info });
    } catch (error) {
      if (!options.allowCpuFallback) {
        throw new InvalidInputError(
          `${(error as Error).message} On GPU hosts run infra/gpu-check.sh once, which installs tfjs-node-gpu ` +
            'with its CUDA build of libtensorflow, or pass --allow-cpu-fallback.',
        );
      }
      log('tfjs-node-gpu does not load; the GPU worker falls back to a CPU backend', {
        error: (error as Error).message,
      });
    }
    for (const gpu of gpus) log('GPU found', { index: gpu.index, name: gpu.name, memoryMiB: gpu.memoryMiB });
  }

  return createWorkers({
    address: options.address,
    namespace: options.namespace,
    connection: options.connection,
    queues: ['gpu'],
    gpuTaskQueue: options.gpuTaskQueue,
    maxConcurrentTraining: concurrency,
  });
}
