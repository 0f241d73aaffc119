import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import {
  orderStages,
  type PipelineRunInput,
  type PipelineRunResult,
  type StageInput,
  type StageResult,
  type StageSpec,
  type StageState,
} from '../lib/pipeline';

/** Returns every stage's state: pending, running, done, cached, failed (with its attempt) or skipped. */
export const stagesQuery = defineQuery<StageState[]>('stages');

type StageActivity = (input: StageInput) => Promise<StageResult>;

/**
 * Runs a pipeline DAG: each stage starts as soon as all the stages it depends on are committed, so
 * independent branches run concurrently. When a stage fails for good, no new stage starts, the
 * running ones finish (what they commit stays reusable), and the workflow fails naming the stage.
 */
export async function pipelineWorkflow(input: PipelineRunInput): Promise<PipelineRunResult> {
  const stages = orderStages(input.pipeline);
  const states = new Map<string, StageState>(
    stages.map((stage) => [stage.name, { name: stage.name, status: 'pending', taskQueue: stage.taskQueue }]),
  );
  setHandler(stagesQuery, () => [...states.values()]);

  const results: Record<string, StageResult> = {};
  const running = new Map<string, Promise<void>>();
  let failure: { stage: string; error: unknown } | undefined;

  const runStage = async (stage: StageSpec): Promise<void> => {
    const state = states.get(stage.name) as StageState;
    state.status = 'running';
    state.startedAt = Date.now();
    const inputs = Object.fromEntries(stage.dependsOn.map((name) => [name, results[name].manifest]));
    const stageInput: StageInput = {
      pipeline: input.pipeline.name,
      stage: stage.name,
      storeUri: input.storeUri,
      params: stage.params,
      inputs,
    };
    try {
      const result = await runActivities(stage, stageInput);
      results[stage.name] = result;
      state.status = result.cached ? 'cached' : 'done';
    } catch (error) {
      state.status = 'failed';
      state.failure = describeFailure(error);
      state.attempt = failedAttempt(error);
      failure ??= { stage: stage.name, error };
    } finally {
      state.endedAt = Date.now();
    }
  };

  for (;;) {
    if (!failure) {
      for (const stage of stages) {
        const state = states.get(stage.name) as StageState;
        const ready = stage.dependsOn.every((name) => results[name] !== undefined);
        if (state.status === 'pending' && ready) {
          running.set(
            stage.name,
            runStage(stage).finally(() => running.delete(stage.name)),
          );
        }
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }

  if (failure) {
    for (const state of states.values()) if (state.status === 'pending') state.status = 'skipped';
    if (isCancellation(failure.error)) throw failure.error;
    throw ApplicationFailure.create({
      message: `Stage ${failure.stage} failed: ${describeFailure(failure.error)}`,
      type: 'StageFailed',
      nonRetryable: true,
      cause: failure.error as Error,
    });
  }
  log.info('Pipeline completed', { pipeline: input.pipeline.name, stages: stages.length });
  return { stages: results };
}

/**
 * Runs a stage as one activity, or, when it fans out, as parallel activities that each do one part
 * of the work followed by one that merges their outputs. The stage counts as cached only when
 * every activity was.
 */
async function runActivities(stage: StageSpec, stageInput: StageInput): Promise<StageResult> {
  const count = stage.fanOut ?? 1;
  if (count <= 1) return stageActivity(stage, `stage ${stage.name}`)(stageInput);

  const parts = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      stageActivity(
        stage,
        `stage ${stage.name}, part ${index + 1} of ${count}`,
      )({ ...stageInput, shard: { index, count } }),
    ),
  );
  const merged = await stageActivity(
    stage,
    `stage ${stage.name}, merge of ${count} parts`,
  )({
    ...stageInput,
    parts: parts.map((part) => part.manifest),
  });
  return { manifest: merged.manifest, cached: merged.cached && parts.every((part) => part.cached) };
}

function stageActivity(stage: StageSpec, summary: string): StageActivity {
  const activities = proxyActivities<Record<string, StageActivity>>({
    taskQueue: stage.taskQueue,
    startToCloseTimeout: stage.startToCloseTimeoutSeconds * 1000,
    heartbeatTimeout: stage.heartbeatTimeoutSeconds * 1000,
    summary,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: stage.maximumAttempts,
      nonRetryableErrorTypes: ['InvalidInput', 'ArtifactIntegrity'],
    },
  });
  return activities[stage.activity];
}

/** Returns the innermost message of an activity failure, which is the one the stage threw. */
function describeFailure(error: unknown): string {
  let current = error as { message?: string; cause?: unknown } | undefined;
  let message = current?.message ?? String(error);
  while (current?.cause) {
    current = current.cause as { message?: string; cause?: unknown };
    if (current.message) message = current.message;
  }
  return message;
}

function failedAttempt(error: unknown): number | undefined {
  if (!(error instanceof ActivityFailure)) return undefined;
  const cause = error.cause;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as { attempt?: number } | undefined;
    return details?.attempt;
  }
  return undefined;
}
