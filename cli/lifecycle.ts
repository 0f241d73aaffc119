import type { Command } from 'commander';
import { cancelRun, listRuns, retryRun, runHistory } from '../lib/runs';
import { followRun } from './follow';
import { printRunSummary } from './summary';
import { withClient, withConnection, type ConnectionOptions } from './connection';

type JsonOption = ConnectionOptions & { json?: boolean };

/** Registers the commands that inspect and steer existing runs: list, history, cancel and retry. */
export function registerLifecycleCommands(program: Command): void {
  withConnection(program.command('list'))
    .description('List recent pipeline runs with their outcome, newest first.')
    .option('--limit <count>', 'how many runs to show', '20')
    .option('--json', 'print JSON')
    .action(async (options: JsonOption & { limit: string }) =>
      withClient(options, async ({ client }) => {
        const runs = await listRuns(client, Number(options.limit));
        if (options.json) return console.log(JSON.stringify(runs, null, 2));
        for (const run of runs) {
          console.log(
            `${run.workflowId.padEnd(48)} ${run.status.padEnd(10)} ${run.startTime}${run.closeTime ? ` → ${run.closeTime}` : ''}`,
          );
        }
      }),
    );

  withConnection(program.command('history'))
    .description(
      "Print a run's timeline per stage from its workflow history: start, end, attempts, cache hits and failures.",
    )
    .argument('<workflow-id>')
    .option('--json', 'print JSON')
    .action(async (workflowId: string, options: JsonOption) =>
      withClient(options, async ({ client }) => {
        const timeline = await runHistory(client, workflowId);
        if (options.json) return console.log(JSON.stringify(timeline, null, 2));
        for (const stage of timeline) {
          const seconds =
            stage.startedAt && stage.endedAt
              ? ((Date.parse(stage.endedAt) - Date.parse(stage.startedAt)) / 1000).toFixed(1)
              : '';
          const attempts = stage.attempts ? `attempt ${stage.attempts}` : '';
          console.log(
            `${stage.stage.padEnd(15)} ${stage.outcome.padEnd(9)} ${stage.scheduledAt} ${seconds.padStart(7)}s ${attempts}${stage.failure ? ` - ${stage.failure}` : ''}`,
          );
        }
      }),
    );

  withConnection(program.command('cancel'))
    .description('Cancel a run. Running stages stop at their next heartbeat; committed artifacts stay.')
    .argument('<workflow-id>')
    .action(async (workflowId: string, options: ConnectionOptions) =>
      withClient(options, async ({ client }) => {
        await cancelRun(client, workflowId);
        console.log(`Cancellation requested for ${workflowId}.`);
      }),
    );

  withConnection(program.command('retry'))
    .description(
      'Rerun a failed or cancelled run; stages it committed come from the cache, so only the rest execute.',
    )
    .argument('<workflow-id>')
    .option('--no-follow', 'print the new workflow id and return without waiting')
    .action(async (workflowId: string, options: ConnectionOptions & { follow: boolean }) =>
      withClient(options, async ({ client }) => {
        const retried = await retryRun(client, workflowId);
        console.log(`Started ${retried} to retry ${workflowId}`);
        if (!options.follow) return;
        const status = await followRun(client, retried);
        console.log('');
        if (status.status !== 'COMPLETED') {
          console.log(`The run ended ${status.status}.`);
          process.exitCode = 1;
          return;
        }
        await printRunSummary(client, status, process.env.TEMPORAL_UI_URL);
      }),
    );
}
