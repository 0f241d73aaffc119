import type { Command } from 'commander';
import { loadConfigFile } from '../lib/config';
import {
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  triggerSchedule,
  unpauseSchedule,
} from '../lib/schedules';
import { withClient, withConnection, type ConnectionOptions } from './connection';

/** Registers `retrain schedule ...`: recurring retrains with Temporal Schedules. */
export function registerScheduleCommands(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('Run a configuration on a schedule with Temporal Schedules.');

  withConnection(schedule.command('create'))
    .description('Create a schedule; overlapping runs are skipped unless --allow-overlap is given.')
    .argument('<config>', 'configuration file')
    .option('--cron <expression>', 'cron expression in UTC, such as "0 3 * * 1"')
    .option('--every <interval>', 'interval between runs, such as 7d or 12h')
    .option('--id <schedule-id>', 'schedule id (default: <pipeline name>-schedule)')
    .option('--allow-overlap', 'start a run even while the previous one is running')
    .action(
      async (
        file: string,
        options: ConnectionOptions & { cron?: string; every?: string; id?: string; allowOverlap?: boolean },
      ) => {
        const config = await loadConfigFile(file);
        await withClient(options, async ({ client }) => {
          const id = await createSchedule(client, config, {
            cron: options.cron,
            every: options.every,
            scheduleId: options.id,
            allowOverlap: options.allowOverlap,
          });
          console.log(`Created schedule ${id}.`);
        });
      },
    );

  withConnection(schedule.command('list'))
    .description('List schedules.')
    .option('--json', 'print JSON')
    .action(async (options: ConnectionOptions & { json?: boolean }) =>
      withClient(options, async ({ client }) => {
        const schedules = await listSchedules(client);
        if (options.json) return console.log(JSON.stringify(schedules, null, 2));
        for (const item of schedules) {
          const next = item.info?.nextActionTimes?.[0]?.toISOString() ?? '-';
          console.log(
            `${item.scheduleId.padEnd(40)} ${item.state.paused ? 'paused ' : 'active '} next: ${next}`,
          );
        }
      }),
    );

  withConnection(schedule.command('describe'))
    .description("Print a schedule's spec, state, recent runs and next run times.")
    .argument('<schedule-id>')
    .option('--json', 'print JSON')
    .action(async (id: string, options: ConnectionOptions & { json?: boolean }) =>
      withClient(options, async ({ client }) => {
        const description = await describeSchedule(client, id);
        if (options.json) return console.log(JSON.stringify(description, null, 2));
        console.log(
          `Schedule ${description.scheduleId}: ${description.state.paused ? 'paused' : 'active'}${description.state.note ? ` (${description.state.note})` : ''}`,
        );
        console.log(`Spec: ${JSON.stringify(description.spec)}`);
        console.log(`Overlap policy: ${description.policies.overlap}`);
        console.log(
          `Runs started: ${description.info.numActionsTaken}, skipped for overlap: ${description.info.numActionsSkippedOverlap}`,
        );
        for (const action of description.info.recentActions) {
          const started = action.action as { workflow?: { workflowId: string } };
          console.log(`  ${action.takenAt.toISOString()} ${started.workflow?.workflowId ?? ''}`);
        }
        console.log(
          `Next runs: ${description.info.nextActionTimes
            .slice(0, 3)
            .map((time) => time.toISOString())
            .join(', ')}`,
        );
      }),
    );

  for (const [name, description, action] of [
    ['pause', 'Pause a schedule.', pauseSchedule],
    ['unpause', 'Unpause a schedule.', unpauseSchedule],
  ] as const) {
    withConnection(schedule.command(name))
      .description(description)
      .argument('<schedule-id>')
      .option('--note <text>', 'note recorded with the change')
      .action(async (id: string, options: ConnectionOptions & { note?: string }) =>
        withClient(options, async ({ client }) => {
          await action(client, id, options.note);
          console.log(`Schedule ${id}: ${name}d.`);
        }),
      );
  }

  withConnection(schedule.command('trigger'))
    .description('Start a run of a schedule now, subject to its overlap policy.')
    .argument('<schedule-id>')
    .action(async (id: string, options: ConnectionOptions) =>
      withClient(options, async ({ client }) => {
        await triggerSchedule(client, id);
        console.log(`Schedule ${id}: triggered.`);
      }),
    );

  withConnection(schedule.command('delete'))
    .description('Delete a schedule; runs it started are not affected.')
    .argument('<schedule-id>')
    .action(async (id: string, options: ConnectionOptions) =>
      withClient(options, async ({ client }) => {
        await deleteSchedule(client, id);
        console.log(`Schedule ${id}: deleted.`);
      }),
    );
}
