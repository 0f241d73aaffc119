import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { InvalidInputError } from './errors';
import type { PipelineRunInput, StageInput, StageResult } from './pipeline';
import { startPipeline } from './client';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const RETRYABLE_STATUSES = new Set(['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

/** A run as `retrain list` prints it. */
export interface RunSummary {
  workflowId: string;
  status: string;
  startTime: string;
  closeTime?: string;
}

/** Lists recent pipeline runs, newest first. */
export async function listRuns(client: Client, limit = 20): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const execution of client.workflow.list({ query: "WorkflowType = 'pipelineWorkflow'" })) {
    runs.push({
      workflowId: execution.workflowId,
      status: execution.status.name,
      startTime: execution.startTime.toISOString(),
      closeTime: execution.closeTime?.toISOString(),
    });
    if (runs.length >= limit) break;
  }
  return runs;
}

/** One stage of a run as its workflow history records it. */
export interface StageTimeline {
  stage: string;
  scheduledAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Attempt that ended the activity: the one that committed, or the last that failed. */
  attempts?: number;
  outcome: 'running' | 'done' | 'cached' | 'failed' | 'timed out' | 'cancelled';
  failure?: string;
}

/**
 * Builds a timeline per stage from the workflow history: when each stage's activity was scheduled,
 * started and closed, on which attempt, whether it was served from the cache, and why it failed.
 */
export async function runHistory(client: Client, workflowId: string): Promise<StageTimeline[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const converter = client.options.loadedDataConverter.payloadConverter;
  const byScheduledId = new Map<string, StageTimeline>();
  const timeOf = (event: HistoryEvent) => {
    const seconds = Number(event.eventTime?.seconds ?? 0);
    return new Date(seconds * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6)).toISOString();
  };

  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const input = converter.fromPayload(scheduled.input?.payloads?.[0] ?? {}) as StageInput;
      byScheduledId.set(id, { stage: input.stage, scheduledAt: timeOf(event), outcome: 'running' });
      continue;
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const timeline = byScheduledId.get(String(started.scheduledEventId));
      if (timeline) {
        timeline.startedAt = timeOf(event);
        timeline.attempts = started.attempt ?? undefined;
      }
      continue;
    }
    const closed =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    const timeline = closed ? byScheduledId.get(String(closed.scheduledEventId)) : undefined;
    if (!timeline) continue;
    timeline.endedAt = timeOf(event);
    if (event.activityTaskCompletedEventAttributes) {
      const result = converter.fromPayload(
        event.activityTaskCompletedEventAttributes.result?.payloads?.[0] ?? {},
      ) as StageResult;
      timeline.outcome = result.cached ? 'cached' : 'done';
    } else if (event.activityTaskFailedEventAttributes) {
      timeline.outcome = 'failed';
      timeline.failure = event.activityTaskFailedEventAttributes.failure?.message ?? undefined;
    } else if (event.activityTaskTimedOutEventAttributes) {
      timeline.outcome = 'timed out';
      timeline.failure = event.activityTaskTimedOutEventAttributes.failure?.message ?? undefined;
    } else {
      timeline.outcome = 'cancelled';
    }
  }
  return [...byScheduledId.values()];
}

/**
 * Reruns a failed or cancelled run as a new workflow with the same input. Stages whose manifests
 * were committed come back from the cache at once, so only the failed stage and the stages after
 * it execute.
 *
 * @throws InvalidInputError if the run is still running or completed.
 */
export async function retryRun(client: Client, workflowId: string): Promise<string> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  if (!RETRYABLE_STATUSES.has(description.status.name)) {
    throw new InvalidInputError(
      `Run ${workflowId} is ${description.status.name}; only failed, cancelled, terminated or timed-out runs can be retried.`,
    );
  }
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!started || !payload)
    throw new Error(`The history of ${workflowId} has no start event with the run's input.`);
  const input = client.options.loadedDataConverter.payloadConverter.fromPayload(payload) as PipelineRunInput;
  return startPipeline(client, input, started.taskQueue?.name ?? 'retrain-cpu', { retryOf: workflowId });
}

/** Requests cancellation; running stages notice it through their heartbeats and stop. */
export async function cancelRun(client: Client, workflowId: string): Promise<void> {
  await client.workflow.getHandle(workflowId).cancel();
}
