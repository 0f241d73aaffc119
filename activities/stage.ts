import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { canonicalJson, sha256 } from '../lib/digest';
import { ArtifactIntegrityError, InvalidInputError } from '../lib/errors';
import type { ArtifactRef, StageInput, StageManifest, StageProgress, StageResult } from '../lib/pipeline';
import { openStore, type ArtifactStore } from '../lib/store';

/** Output of a stage's run function, which the stage wrapper turns into a committed manifest. */
export interface StageOutput {
  artifacts: Record<string, ArtifactRef>;
  counts?: Record<string, number>;
  metrics?: Record<string, number>;
  info?: Record<string, unknown>;
}

/** Context passed to a stage's run function. */
export interface StageContext<P> {
  stage: string;
  params: P;
  inputs: Record<string, StageManifest>;
  store: ArtifactStore;
  storeUri: string;
  cacheKey: string;
  /** Key prefix shared by every attempt of this cache key, for checkpoints that a retry resumes. */
  stagePrefix: string;
  /** Key prefix that only this attempt writes to, so a timed-out attempt never overwrites another's files. */
  attemptPrefix: string;
  attempt: number;
  /** Details of the last heartbeat of the previous attempt, if any. */
  previousHeartbeat: unknown;
  signal: AbortSignal;
  /** Records progress and the resume point; the wrapper sends it with the next heartbeat. */
  report(progress: StageProgress, resume?: unknown): void;
}

export interface StageDefinition<S extends z.ZodType> {
  name: string;
  /** Bumped whenever the stage's output for the same inputs changes, so old caches stop matching. */
  version: number;
  params: S;
  /** Digest of external input (a dataset folder, a model file) that the cache key must cover. */
  fingerprint?: (params: z.infer<S>, store: ArtifactStore) => Promise<unknown>;
  run: (context: StageContext<z.infer<S>>) => Promise<StageOutput>;
  /**
   * For stages that can fan out: `run` does one part of the work, and `merge` combines the parts'
   * outputs. The merged output must not depend on how many parts there were.
   */
  shards?: {
    run: (context: StageContext<z.infer<S>>, shard: { index: number; count: number }) => Promise<StageOutput>;
    merge: (context: StageContext<z.infer<S>>, parts: StageOutput[]) => Promise<StageOutput>;
  };
}

const HEARTBEAT_INTERVAL_MS = 1000;

/**
 * Turns a stage definition into a Temporal activity that caches, heartbeats and commits.
 *
 * The cache key is a digest of the stage name, its version, its parameters, the digests of its
 * input artifacts and its fingerprint. A committed manifest under that key is returned without
 * running anything. Otherwise the stage runs, writes under an attempt-scoped prefix, and commits
 * by writing its manifest with putIfAbsent; if another attempt committed first, that manifest wins.
 */
export function defineStage<S extends z.ZodType>(definition: StageDefinition<S>) {
  const activity = async (input: StageInput): Promise<StageResult> => {
    const context = Context.current();
    const info = context.info;
    const attempt = info.attempt;
    const logFields = { workflowId: info.workflowExecution?.workflowId, stage: definition.name, attempt };

    try {
      const parsed = definition.params.safeParse(input.params);
      if (!parsed.success) {
        const problems = parsed.error.issues.map(
          (issue) => `${issue.path.join('.') || '(params)'}: ${issue.message}`,
        );
        throw new InvalidInputError(
          `Invalid parameters for stage ${definition.name}: ${problems.join('; ')}`,
        );
      }
      const params = parsed.data as z.infer<S>;
      const store = openStore(input.storeUri);

      const fingerprint = definition.fingerprint ? await definition.fingerprint(params, store) : null;
      const cacheKey = sha256(
        canonicalJson({
          stage: definition.name,
          version: definition.version,
          params,
          fingerprint,
          // Parts of a fanned-out stage cache under their own keys; the merged output uses the
          // stage's key, so it is shared with unsharded runs.
          ...(input.shard ? { shard: input.shard } : {}),
          inputs: Object.fromEntries(
            Object.entries(input.inputs).map(([name, manifest]) => [
              name,
              Object.fromEntries(
                Object.entries(manifest.artifacts).map(([key, artifact]) => [key, artifact.sha256]),
              ),
            ]),
          ),
        }),
      ).slice(0, 32);
      const stagePrefix = `stages/${definition.name}/${cacheKey}`;
      const manifestKey = `${stagePrefix}/manifest.json`;

      const committed = await store.get(manifestKey);
      if (committed) {
        log.info('Stage cache hit', { ...logFields, cacheKey });
        return { manifest: JSON.parse(committed.toString('utf8')) as StageManifest, cached: true };
      }

      log.info('Stage started', { ...logFields, cacheKey });
      const started = Date.now();
      let lastDetails: { progress?: StageProgress; resume?: unknown } = {};
      const beat = () => context.heartbeat(lastDetails);
      const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
      let output: StageOutput;
      try {
        const stageContext: StageContext<z.infer<S>> = {
          stage: definition.name,
          params,
          inputs: input.inputs,
          store,
          storeUri: input.storeUri,
          cacheKey,
          stagePrefix,
          attemptPrefix: `${stagePrefix}/attempts/${info.workflowExecution?.runId}-${attempt}`,
          attempt,
          previousHeartbeat: (info.heartbeatDetails as { resume?: unknown } | undefined)?.resume,
          signal: context.cancellationSignal,
          report: (progress, resume) => {
            lastDetails = { progress, resume: resume ?? lastDetails.resume };
          },
        };
        output = await runDefinition(definition, stageContext, input);
      } finally {
        clearInterval(timer);
      }

      const manifest: StageManifest = {
        stage: definition.name,
        cacheKey,
        codeVersion: definition.version,
        createdAt: new Date().toISOString(),
        artifacts: output.artifacts,
        counts: output.counts ?? {},
        metrics: output.metrics ?? {},
        info: output.info ?? {},
        computeSeconds: (Date.now() - started) / 1000,
        attempt,
      };
      if (!(await store.putIfAbsent(manifestKey, Buffer.from(JSON.stringify(manifest, null, 2))))) {
        log.warn('Another attempt committed this stage first; returning its manifest', {
          ...logFields,
          cacheKey,
        });
        const winner = (await store.get(manifestKey)) as Buffer;
        return { manifest: JSON.parse(winner.toString('utf8')) as StageManifest, cached: true };
      }
      log.info('Stage committed', { ...logFields, cacheKey, seconds: manifest.computeSeconds });
      return { manifest, cached: false };
    } catch (error) {
      throw toFailure(error, attempt, logFields);
    }
  };
  Object.defineProperty(activity, 'name', { value: definition.name });
  return activity;
}

function runDefinition<S extends z.ZodType>(
  definition: StageDefinition<S>,
  context: StageContext<z.infer<S>>,
  input: StageInput,
): Promise<StageOutput> {
  const shards = definition.shards;
  if (!shards) {
    if (input.shard || input.parts)
      throw new InvalidInputError(`Stage ${definition.name} cannot fan out; set its fanOut to 1.`);
    return definition.run(context);
  }
  if (input.shard) return shards.run(context, input.shard);
  if (input.parts) return shards.merge(context, input.parts);
  return definition.run(context);
}

/** Maps bad input to non-retryable failures and everything else to retryable ones, with the attempt. */
function toFailure(error: unknown, attempt: number, logFields: Record<string, unknown>): unknown {
  if (error instanceof ApplicationFailure || (error as Error)?.name === 'CancelledFailure') return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof InvalidInputError || error instanceof ArtifactIntegrityError) {
    log.error('Stage failed on bad input; not retrying', { ...logFields, error: message });
    return ApplicationFailure.create({
      message,
      type: error instanceof InvalidInputError ? 'InvalidInput' : 'ArtifactIntegrity',
      nonRetryable: true,
      details: [{ attempt }],
    });
  }
  log.warn('Stage attempt failed; Temporal retries it with backoff', { ...logFields, error: message });
  return ApplicationFailure.create({
    message,
    type: (error as Error)?.name ?? 'Error',
    nonRetryable: false,
    details: [{ attempt }],
    cause: error instanceof Error ? error : undefined,
  });
}
