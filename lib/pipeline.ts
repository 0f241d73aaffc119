// Types shared by the client, the pipeline workflow and the activities. This module holds types
// and pure functions only, because the workflow bundle imports it and must stay deterministic.

/** A stored file as manifests record it. */
export interface ArtifactRef {
  uri: string;
  sha256: string;
  bytes: number;
}

/**
 * Record of what a stage committed: its artifacts with digests, plus counts, metrics and small
 * facts that later stages and reports read. Manifests are small JSON, because images and tensors
 * stay in the store.
 */
export interface StageManifest {
  stage: string;
  cacheKey: string;
  codeVersion: number;
  createdAt: string;
  artifacts: Record<string, ArtifactRef>;
  counts: Record<string, number>;
  metrics: Record<string, number>;
  info: Record<string, unknown>;
  /** Seconds the attempt that committed this manifest spent computing it. */
  computeSeconds: number;
  /** Temporal attempt number of the activity that committed this manifest. */
  attempt: number;
}

export type TaskQueueKind = 'cpu' | 'gpu';

/** One node of a pipeline DAG: which activity runs, on which task queue, after which stages. */
export interface StageSpec {
  name: string;
  activity: string;
  dependsOn: string[];
  taskQueue: string;
  params: unknown;
  startToCloseTimeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  maximumAttempts: number;
  /**
   * Parallel activities the stage's work is split into, for stages that support it; their partial
   * outputs are merged by one more activity. 1 or absent runs the stage as one activity.
   */
  fanOut?: number;
}

export interface PipelineSpec {
  name: string;
  stages: StageSpec[];
}

/** Everything an activity needs to run one stage. */
export interface StageInput {
  pipeline: string;
  stage: string;
  storeUri: string;
  params: unknown;
  /** Committed manifests of the stages this one depends on, by stage name. */
  inputs: Record<string, StageManifest>;
  /** Set on the parallel activities of a fanned-out stage: which part of the work this one does. */
  shard?: { index: number; count: number };
  /** Set on the merging activity of a fanned-out stage: the parts' manifests, in shard order. */
  parts?: StageManifest[];
}

export interface StageResult {
  manifest: StageManifest;
  /** True when the manifest was already committed and nothing was recomputed. */
  cached: boolean;
}

/** Input of the pipeline workflow. */
export interface PipelineRunInput {
  pipeline: PipelineSpec;
  storeUri: string;
  /** Short description of the configuration, shown in reports. */
  summary: Record<string, string | number>;
}

export interface PipelineRunResult {
  stages: Record<string, StageResult>;
}

export type StageStatus = 'pending' | 'running' | 'done' | 'cached' | 'failed' | 'skipped';

/** A stage's state as the workflow's `stages` query returns it. */
export interface StageState {
  name: string;
  status: StageStatus;
  taskQueue: string;
  startedAt?: number;
  endedAt?: number;
  /** Attempt that committed the stage, or the last attempt that failed. */
  attempt?: number;
  failure?: string;
  /** Latest progress, filled in by clients from the activity's heartbeat details. */
  progress?: StageProgress;
}

/** Progress a running stage reports through its heartbeats. */
export interface StageProgress {
  phase: string;
  /** Share of the phase done, from 0 to 1. */
  fraction?: number;
  epoch?: number;
  epochs?: number;
  step?: number;
  steps?: number;
  elapsedMs?: number;
  metrics?: Record<string, number>;
  message?: string;
}

/**
 * Checks that a pipeline is a DAG whose dependencies all exist, and returns its stages in a
 * topological order.
 *
 * @throws Error naming the unknown dependency or a stage on a cycle.
 */
export function orderStages(pipeline: PipelineSpec): StageSpec[] {
  const byName = new Map(pipeline.stages.map((stage) => [stage.name, stage]));
  if (byName.size !== pipeline.stages.length)
    throw new Error(`Pipeline ${pipeline.name} has duplicate stage names.`);
  const ordered: StageSpec[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (stage: StageSpec, trail: string[]) => {
    if (state.get(stage.name) === 'done') return;
    if (state.get(stage.name) === 'visiting') {
      throw new Error(`Pipeline ${pipeline.name} has a cycle: ${[...trail, stage.name].join(' -> ')}.`);
    }
    state.set(stage.name, 'visiting');
    for (const dependency of stage.dependsOn) {
      const upstream = byName.get(dependency);
      if (!upstream)
        throw new Error(
          `Stage ${stage.name} depends on ${dependency}, which is not in pipeline ${pipeline.name}.`,
        );
      visit(upstream, [...trail, stage.name]);
    }
    state.set(stage.name, 'done');
    ordered.push(stage);
  };
  for (const stage of pipeline.stages) visit(stage, []);
  return ordered;
}
