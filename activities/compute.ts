import { log } from '@temporalio/activity';
import { runJob } from '../lib/compute/run-job';
import type { JobInput, JobName, JobResult } from '../lib/compute/jobs';
import type { StageContext } from './stage';

/**
 * Runs a compute job for a stage on a worker thread: its progress becomes the stage's heartbeat
 * details (with the resume point a retry starts from) and its logs go to the activity logger.
 */
export function runStageJob<N extends JobName>(
  context: StageContext<unknown>,
  job: N,
  input: JobInput<N>,
): Promise<JobResult<N>> {
  return runJob<JobResult<N>>(job, input, {
    signal: context.signal,
    onProgress: (progress, resume) => context.report(progress, resume),
    onLog: (level, message, fields) =>
      log[level](message, { stage: context.stage, attempt: context.attempt, ...fields }),
  });
}
