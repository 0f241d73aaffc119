#!/usr/bin/env node
import * as path from 'node:path';
import { Command } from 'commander';
import { connectClient, startRun } from '../lib/client';
import { printRunSummary } from './summary';
import { registerLifecycleCommands, registerReportCommands } from './lifecycle';
import { registerScheduleCommands } from './schedule';
import { loadConfigFile } from '../lib/config';
import { InvalidInputError } from '../lib/errors';
import { describeConnection, resolveConnection } from '../lib/connection';
import { createWorkers, type QueueKind } from '../workers/worker';
import { installWorkerLogger } from '../workers/logging';
import { createGpuWorker } from '../workers/gpu-worker';
import { DEV_SERVER_DB, DEV_SERVER_LOG, runDemo } from './demo';
import { startDevServer, stopDetachedServer } from '../infra/temporal-server';
import { followRun, formatStageLine } from './follow';
import { describeRun } from '../lib/client';

const program = new Command();
program.name('retrain').description('Transfer-learning pipelines as durable Temporal workflows.');
const defaultAddress = () => process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
/** Web UI address of the local dev server, which serves it on 8233 beside gRPC on 7233. */
const localUiUrl = (address: string) => (address === '127.0.0.1:7233' ? 'http://127.0.0.1:8233' : undefined);

program
  .command('run')
  .description('Start a transfer-learning run from a YAML or JSON configuration and follow it.')
  .argument('<config>', 'configuration file')
  .option('--address <host:port>', 'Temporal frontend address (default: TEMPORAL_ADDRESS or 127.0.0.1:7233)')
  .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE or default)')
  .option('--no-follow', 'print the workflow id and return without waiting')
  .option('--json', 'wait without the live view and print the run result as JSON')
  .action(
    async (
      file: string,
      options: { address?: string; namespace?: string; follow: boolean; json?: boolean },
    ) => {
      const config = await loadConfigFile(file);
      const { client, close } = await connectClient(
        resolveConnection({ address: options.address, namespace: options.namespace }),
      );
      try {
        const workflowId = await startRun(client, config);
        if (options.json) {
          const handle = client.workflow.getHandle(workflowId);
          const result = await handle.result().catch((error: Error) => ({ error: error.message }));
          console.log(
            JSON.stringify(
              { workflowId, status: (await describeRun(client, workflowId)).status, result },
              null,
              2,
            ),
          );
          return;
        }
        console.log(`Started ${workflowId}`);
        if (!options.follow) return;
        const status = await followRun(client, workflowId);
        console.log('');
        if (status.status !== 'COMPLETED') {
          console.log(`The run ended ${status.status}.`);
          process.exitCode = 1;
          return;
        }
        await printRunSummary(
          client,
          status,
          process.env.TEMPORAL_UI_URL ?? localUiUrl(options.address ?? defaultAddress()),
        );
      } finally {
        await close();
      }
    },
  );

program
  .command('status')
  .description("Print a run's stage states and progress.")
  .argument('<workflow-id>')
  .option('--address <host:port>', 'Temporal frontend address')
  .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE or default)')
  .option('--json', 'print JSON')
  .action(async (workflowId: string, options: { address?: string; namespace?: string; json?: boolean }) => {
    const { client, close } = await connectClient(
      resolveConnection({ address: options.address, namespace: options.namespace }),
    );
    try {
      const status = await describeRun(client, workflowId);
      if (options.json) console.log(JSON.stringify(status, null, 2));
      else {
        console.log(`${status.workflowId}: ${status.status}`);
        for (const stage of status.stages) console.log(formatStageLine(stage));
      }
    } finally {
      await close();
    }
  });

program
  .command('worker')
  .description('Run a worker that polls the CPU task queue, the GPU task queue, or both.')
  .option('--address <host:port>', 'Temporal frontend address')
  .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE or default)')
  .option('--queues <list>', 'comma-separated task queue kinds to poll: cpu, gpu', 'cpu,gpu')
  .option('--log-file <file>', 'write logs to this file instead of stderr')
  .action(async (options: { address?: string; namespace?: string; queues: string; logFile?: string }) => {
    const queues = options.queues.split(',').map((queue) => queue.trim());
    const invalid = queues.filter((queue) => queue !== 'cpu' && queue !== 'gpu');
    if (invalid.length > 0)
      throw new InvalidInputError(`Invalid --queues value ${invalid.join(', ')}: use cpu, gpu or cpu,gpu.`);
    installWorkerLogger(options.logFile);
    const connection = resolveConnection({ address: options.address, namespace: options.namespace });
    console.error(
      `Worker connecting to ${describeConnection(connection)}, polling ${queues.join(' and ')} task queues.`,
    );
    const set = await createWorkers({
      address: connection.address,
      connection,
      queues: queues as QueueKind[],
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => set.shutdown());
    await set.run();
    await set.close();
  });

program
  .command('gpu-worker')
  .description('Run a worker on the GPU task queue with tfjs-node-gpu, one training activity per GPU.')
  .option('--address <host:port>', 'Temporal frontend address')
  .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE or default)')
  .option('--task-queue <name>', 'GPU task queue to poll', 'retrain-gpu')
  .option('--allow-cpu-fallback', 'start on a CPU backend when no GPU or tfjs-node-gpu is usable')
  .option('--log-file <file>', 'write logs to this file instead of stderr')
  .action(
    async (options: {
      address?: string;
      namespace?: string;
      taskQueue: string;
      allowCpuFallback?: boolean;
      logFile?: string;
    }) => {
      installWorkerLogger(options.logFile);
      const connection = resolveConnection({ address: options.address, namespace: options.namespace });
      const set = await createGpuWorker({
        address: connection.address,
        connection,
        gpuTaskQueue: options.taskQueue,
        allowCpuFallback: options.allowCpuFallback,
      });
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => set.shutdown());
      await set.run();
      await set.close();
    },
  );

const server = program
  .command('server')
  .description('Manage the local Temporal dev server (SQLite in .retrain/temporal).');
server
  .command('start')
  .description('Start the dev server in the background, or report the one already running.')
  .action(async () => {
    const started = await startDevServer({ dbFile: DEV_SERVER_DB, logFile: DEV_SERVER_LOG, detached: true });
    console.log(`Temporal dev server on ${started.address}; Web UI at ${started.uiUrl}`);
  });
server
  .command('stop')
  .description('Stop the dev server that `server start` or `demo` started.')
  .action(async () => {
    console.log(
      (await stopDetachedServer(DEV_SERVER_DB))
        ? 'Stopped the Temporal dev server.'
        : 'No dev server was running.',
    );
  });

program
  .command('demo')
  .description('Start the dev server and a worker, and run the Fashion-MNIST demo pipeline end to end.')
  .option(
    '--config <file>',
    'configuration to run',
    path.join(__dirname, '..', '..', 'examples', 'fashion-mnist-demo.yaml'),
  )
  .action(async (options: { config: string }) => {
    await runDemo(options.config);
  });

registerLifecycleCommands(program);
registerReportCommands(program);
registerScheduleCommands(program);

program.parseAsync().catch((error: Error) => {
  console.error(
    error instanceof InvalidInputError ? error.message : `Error: ${error.stack ?? error.message}`,
  );
  process.exit(1);
});
