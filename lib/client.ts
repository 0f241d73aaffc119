import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import { BASE_MODEL_ATTRIBUTE, DATASET_ATTRIBUTE, PIPELINE_ATTRIBUTE } from './search-attributes';
import type { PipelineConfig } from './config';
import { connectOptions, type ConnectionSettings } from './connection';
import type { PipelineRunInput, PipelineRunResult, StageProgress, StageState } from './pipeline';
import { transferLearningPipeline } from './transfer-learning';
import { runHistory, type StageTimeline } from './history';

export interface RunClient {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

/** Connects a client to an address (a local server without TLS) or with full connection settings. */
export async function connectClient(
  target: string | ConnectionSettings,
  namespace = 'default',
): Promise<RunClient> {
  const settings = typeof target === 'string' ? { address: target, namespace } : target;
  const connection = await Connection.connect(connectOptions(settings));
  const client = new Client({ connection, namespace: settings.namespace });
  return { client, connection, close: () => connection.close() };
}

/**
 * Workflow id of a run: the pipeline name and the UTC start time to the millisecond, so the Web UI
 * list shows what ran and two runs started in the same second still get distinct ids.
 */
export function workflowIdFor(pipeline: string, now = new Date()): string {
  return `${pipeline}-${now.toISOString().replace(/[-:.]/g, '')}`;
}

/** Workflow input of a transfer-learning run of a configuration. */
export function runInputFor(config: PipelineConfig): PipelineRunInput {
  return {
    pipeline: transferLearningPipeline(config),
    storeUri: config.store,
    summary: {
      dataset: config.dataset.source.type,
      classes: (config.dataset.classes ?? []).join(', '),
      baseModel: config.baseModel.uri,
      image: `${config.image.height}x${config.image.width}`,
    },
  };
}

/**
 * Search attributes of a run, limited to those the namespace has registered, because starting a
 * workflow with an unregistered attribute fails. The dev server registers all of them at start.
 */
export async function searchAttributesFor(
  client: Client,
  input: PipelineRunInput,
): Promise<SearchAttributePair[]> {
  const values: SearchAttributePair[] = [
    { key: PIPELINE_ATTRIBUTE, value: input.pipeline.name },
    { key: DATASET_ATTRIBUTE, value: String(input.summary.dataset ?? '') },
    { key: BASE_MODEL_ATTRIBUTE, value: String(input.summary.baseModel ?? '') },
  ];
  let registered: Set<string>;
  try {
    const response = await client.connection.operatorService.listSearchAttributes({
      namespace: client.options.namespace,
    });
    registered = new Set(Object.keys(response.customAttributes ?? {}));
  } catch {
    return [];
  }
  return values.filter((pair) => registered.has(pair.key.name));
}

/** Starts the pipeline workflow for an input and returns the workflow id. */
export async function startPipeline(
  client: Client,
  input: PipelineRunInput,
  taskQueue: string,
  memo: Record<string, unknown> = {},
): Promise<string> {
  const workflowId = workflowIdFor(input.pipeline.name);
  await client.workflow.start('pipelineWorkflow', {
    taskQueue,
    workflowId,
    args: [input],
    memo: { config: input.summary, ...memo },
    typedSearchAttributes: await searchAttributesFor(client, input),
  });
  return workflowId;
}

/** Starts a transfer-learning run of a configuration and returns its workflow id. */
export async function startRun(client: Client, config: PipelineConfig): Promise<string> {
  return startPipeline(client, runInputFor(config), config.temporal.cpuTaskQueue);
}

export interface RunStatus {
  workflowId: string;
  status: string;
  stages: StageState[];
}

/**
 * Reads a run's stage states from the workflow's `stages` query and adds each running stage's
 * progress and attempt from its last heartbeat, which the workflow itself never sees.
 */
export async function describeRun(client: Client, workflowId: string): Promise<RunStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  let stages: StageState[];
  try {
    stages = await handle.query<StageState[]>('stages');
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw error;
    // A query needs a worker to handle it. Without one, the states are rebuilt from the history.
    stages = (await runHistory(client, workflowId)).map(stateFromTimeline);
  }
  const raw = await client.workflowService.describeWorkflowExecution({
    namespace: client.options.namespace,
    execution: { workflowId, runId: description.runId },
  });
  for (const pending of raw.pendingActivities ?? []) {
    const summary = pending.activityType?.name;
    const stage = stages.find(
      (state) => state.status === 'running' && activityNameOf(state.name) === summary,
    );
    if (!stage) continue;
    stage.attempt = pending.attempt ?? undefined;
    const payload = pending.heartbeatDetails?.payloads?.[0];
    if (payload) {
      const details = client.options.loadedDataConverter.payloadConverter.fromPayload(payload) as
        { progress?: StageProgress } | undefined;
      stage.progress = details?.progress;
    }
    if (pending.lastFailure?.message) stage.failure = pending.lastFailure.message;
  }
  return { workflowId, status: description.status.name, stages };
}

function stateFromTimeline(timeline: StageTimeline): StageState {
  const status: Record<StageTimeline['outcome'], StageState['status']> = {
    running: 'running',
    done: 'done',
    cached: 'cached',
    failed: 'failed',
    'timed out': 'failed',
    cancelled: 'failed',
  };
  return {
    name: timeline.stage,
    status: status[timeline.outcome],
    taskQueue: '',
    startedAt: Date.parse(timeline.scheduledAt),
    endedAt: timeline.endedAt ? Date.parse(timeline.endedAt) : undefined,
    attempt: timeline.attempts,
    failure: timeline.failure ?? (timeline.outcome === 'cancelled' ? 'cancelled' : undefined),
  };
}

/** Activity type name of a stage of the transfer-learning pipeline. */
function activityNameOf(stage: string): string {
  return stage.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

export async function waitForRun(client: Client, workflowId: string): Promise<PipelineRunResult> {
  return client.workflow.getHandle(workflowId).result() as Promise<PipelineRunResult>;
}
