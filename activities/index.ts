import { augmentCache } from './augment-cache';
import { download } from './download';
import { evaluate } from './evaluate';
import { resize } from './resize';
import { split } from './split';
import { fineTune, trainBaseline, trainHead } from './training';
import { promote } from './promote';

/** Activities of the data stages, which run on the CPU task queue. */
export const dataActivities = { download, split, resize, augmentCache };

/** Activities of the training and evaluation stages, which run on the GPU task queue. */
export const trainingActivities = { trainHead, fineTune, trainBaseline, evaluate, promote };

export const activities = { ...dataActivities, ...trainingActivities };
export type Activities = typeof activities;
