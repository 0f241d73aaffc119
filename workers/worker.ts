import * as os from 'node:os';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { dataActivities, trainingActivities } from '../activities';
import { connectOptions, type ConnectionSettings } from '../lib/connection';

export type QueueKind = 'cpu' | 'gpu';

export interface WorkerSetOptions {
  address: string;
  namespace?: string;
  /** Full connection settings (mTLS or API key); `address` and `namespace` alone mean no TLS. */
  connection?: ConnectionSettings;
  /** Task queues to poll. The embedded default polls both. */
  queues: QueueKind[];
  cpuTaskQueue?: string;
  gpuTaskQueue?: string;
  /** Training activities run at once on the GPU queue; one per GPU on GPU hosts. */
  maxConcurrentTraining?: number;
}

export interface WorkerSet {
  workers: Worker[];
  run(): Promise<void>;
  shutdown(): void;
  close(): Promise<void>;
}

const workflowsPath = require.resolve('../workflows');

/**
 * Creates the workers for the requested task queues. The CPU queue's worker also runs the pipeline
 * workflow; the GPU queue's worker runs training and evaluation activities only.
 */
export async function createWorkers(options: WorkerSetOptions): Promise<WorkerSet> {
  const settings = options.connection ?? {
    address: options.address,
    namespace: options.namespace ?? 'default',
  };
  const connection = await NativeConnection.connect(connectOptions(settings));
  const shared: Partial<WorkerOptions> = {
    connection,
    namespace: settings.namespace,
    // Progress bars read heartbeat details, so heartbeats are sent at most a second apart.
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
    shutdownGraceTime: '10s',
  };
  const workers: Worker[] = [];
  if (options.queues.includes('cpu')) {
    workers.push(
      await Worker.create({
        ...shared,
        taskQueue: options.cpuTaskQueue ?? 'retrain-cpu',
        workflowsPath,
        activities: dataActivities,
        maxConcurrentActivityTaskExecutions: os.cpus().length,
      } as WorkerOptions),
    );
  }
  if (options.queues.includes('gpu')) {
    workers.push(
      await Worker.create({
        ...shared,
        taskQueue: options.gpuTaskQueue ?? 'retrain-gpu',
        activities: trainingActivities,
        maxConcurrentActivityTaskExecutions: options.maxConcurrentTraining ?? os.cpus().length,
      } as WorkerOptions),
    );
  }
  return {
    workers,
    run: async () => {
      await Promise.all(workers.map((worker) => worker.run()));
    },
    shutdown: () => workers.forEach((worker) => worker.getState() === 'RUNNING' && worker.shutdown()),
    close: () => connection.close(),
  };
}
