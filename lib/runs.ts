import type { Client } from '@temporalio/client';
import { InvalidInputError } from './errors';
import type { PipelineRunInput } from './pipeline';
import { startPipeline } from './client';

export { runHistory, type StageTimeline } from './history';

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
