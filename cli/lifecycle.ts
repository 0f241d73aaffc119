import type { Command } from 'commander';
import type { PipelineRunResult } from '../lib/pipeline';
import { cancelRun, listRuns, retryRun, runHistory } from '../lib/runs';
import { selectBackend } from '../lib/tf/backend';
import { loadLayersModel } from '../lib/tf/model-io';
import { formatSummary, summarizeModel } from '../lib/tf/summary';
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

/** Registers `retrain report` and `retrain summary`. */
export function registerReportCommands(program: Command): void {
  withConnection(program.command('report'))
    .description("Print where a completed run's HTML and Markdown reports are in the artifact store.")
    .argument('<workflow-id>')
    .option('--json', 'print JSON')
    .action(async (workflowId: string, options: JsonOption) =>
      withClient(options, async ({ client }) => {
        const result = (await client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
        const artifacts = result.stages.evaluate.manifest.artifacts;
        const html = result.stages.promote?.manifest.artifacts['report.html'] ?? artifacts['report.html'];
        const reports = { html: html?.uri, markdown: artifacts['report.md']?.uri };
        if (options.json) return console.log(JSON.stringify(reports, null, 2));
        console.log(`HTML report:     ${reports.html ?? '(none: this run predates HTML reports)'}`);
        console.log(`Markdown report: ${reports.markdown}`);
      }),
    );

  program
    .command('summary')
    .description(
      'Print the layer table of a TensorFlow.js model (model.json path, URL or s3:// URI), like Keras model.summary(show_trainable=True).',
    )
    .argument('<model-uri>')
    .option('--json', 'print JSON')
    .action(async (uri: string, options: { json?: boolean }) => {
      const { tf } = await selectBackend('inference', 'auto');
      const summary = summarizeModel(await loadLayersModel(tf, uri));
      console.log(options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    });
}
