import { augmentJob } from './augment';
import { trainBaselineJob } from './baseline';
import type { JobContext } from './context';
import { evaluateJob } from './evaluate';
import { fineTuneJob } from './fine-tune';
import { trainHeadJob } from './train-head';

/** Compute jobs that run on worker threads, by name. */
export const jobs = {
  augment: augmentJob,
  'train-head': trainHeadJob,
  'fine-tune': fineTuneJob,
  'train-baseline': trainBaselineJob,
  evaluate: evaluateJob,
} satisfies Record<string, (input: never, context: JobContext) => Promise<unknown>>;

export type JobName = keyof typeof jobs;
export type JobInput<N extends JobName> = Parameters<(typeof jobs)[N]>[0];
export type JobResult<N extends JobName> = Awaited<ReturnType<(typeof jobs)[N]>>;
