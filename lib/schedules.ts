import {
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { PipelineConfig } from './config';
import { InvalidInputError } from './errors';
import { runInputFor, searchAttributesFor } from './client';

export interface ScheduleOptions {
  /** Cron expression, such as `0 3 * * 1` for Mondays at 03:00 UTC. */
  cron?: string;
  /** Interval between runs, such as `7d` or `12h`. */
  every?: string;
  scheduleId?: string;
  /** Lets a scheduled run start while the previous one still runs; skipped by default. */
  allowOverlap?: boolean;
}

/**
 * Creates a Temporal Schedule that starts the configuration's pipeline on a cron expression or an
 * interval. Each run downloads its data source again, so changed data gets a new cache key while
 * unchanged data and configuration are served from the cache.
 *
 * @throws InvalidInputError unless exactly one of cron and every is given.
 */
export async function createSchedule(
  client: Client,
  config: PipelineConfig,
  options: ScheduleOptions,
): Promise<string> {
  if (Boolean(options.cron) === Boolean(options.every)) {
    throw new InvalidInputError(
      'Give exactly one of --cron (for example "0 3 * * 1") or --every (for example 7d).',
    );
  }
  if (options.every && !/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(options.every)) {
    throw new InvalidInputError(
      `Invalid --every value ${JSON.stringify(options.every)}: use a number and a unit (ms, s, m, h, d), such as 7d.`,
    );
  }
  const input = runInputFor(config);
  const scheduleId = options.scheduleId ?? `${config.name}-schedule`;
  await client.schedule.create({
    scheduleId,
    spec: options.cron
      ? { cronExpressions: [options.cron] }
      : { intervals: [{ every: options.every as Duration }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'pipelineWorkflow',
      // Temporal appends the scheduled time to this id, so each run's id names the pipeline and the time.
      workflowId: config.name,
      taskQueue: config.temporal.cpuTaskQueue,
      args: [input],
      memo: { config: input.summary, scheduleId },
      typedSearchAttributes: await searchAttributesFor(client, input),
    },
    policies: {
      overlap: options.allowOverlap ? ScheduleOverlapPolicy.ALLOW_ALL : ScheduleOverlapPolicy.SKIP,
    },
  });
  return scheduleId;
}

export async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const schedules: ScheduleSummary[] = [];
  for await (const schedule of client.schedule.list()) schedules.push(schedule);
  return schedules;
}

export function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription> {
  return client.schedule.getHandle(scheduleId).describe();
}

export async function pauseSchedule(client: Client, scheduleId: string, note?: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).pause(note);
}

export async function unpauseSchedule(client: Client, scheduleId: string, note?: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).unpause(note);
}

/** Starts a run now, subject to the schedule's own overlap policy. */
export async function triggerSchedule(client: Client, scheduleId: string): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId);
  // The SDK's trigger() allows overlap unless given a policy, so pass the schedule's own.
  const { policies } = await handle.describe();
  await handle.trigger(policies.overlap);
}

export async function deleteSchedule(client: Client, scheduleId: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).delete();
}
