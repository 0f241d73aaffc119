import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { StageInput, StageResult } from './pipeline';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

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
