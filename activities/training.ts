import { z } from 'zod';
import { backendSchema, baseModelSchema, baselineSchema, fineTuneSchema, headSchema } from '../lib/config';
import { shardGroupsOf, type ShardGroups, type ShardRef } from '../lib/data/shards';
import type { StageManifest } from '../lib/pipeline';
import type { StoredModel } from '../lib/tf/model-io';
import type { FineTuneResume } from '../lib/compute/fine-tune';
import type { TrainHeadResume } from '../lib/compute/train-head';
import { runStageJob } from './compute';
import { defineStage } from './stage';

/** Shards of the augmented training copies, in copy order, and of the validation split. */
function trainingShards(augmented: StageManifest): { trainCopies: ShardRef[][]; validation: ShardRef[] } {
  const groups: ShardGroups = shardGroupsOf(augmented);
  const copies = Object.keys(groups)
    .filter((name) => name.startsWith('train-copy-'))
    .sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
  return { trainCopies: copies.map((name) => groups[name]), validation: groups.validation };
}

function imageSize(augmented: StageManifest): { height: number; width: number; numClasses: number } {
  return {
    height: augmented.info.height as number,
    width: augmented.info.width as number,
    numClasses: (augmented.info.classNames as string[]).length,
  };
}

export const trainHead = defineStage({
  name: 'train-head',
  version: 2,
  params: z.object({
    head: headSchema,
    baseModel: baseModelSchema,
    backend: backendSchema,
    seed: z.number().int(),
  }),
  fingerprint: async (params) => params.baseModel.uri,
  run: async (context) => {
    const { params, inputs } = context;
    const result = await runStageJob(context, 'train-head', {
      storeUri: context.storeUri,
      attemptPrefix: context.attemptPrefix,
      backend: params.backend,
      baseModel: params.baseModel,
      ...imageSize(inputs['augment-cache']),
      ...params.head,
      seed: params.seed,
      ...trainingShards(inputs['augment-cache']),
      resume: context.previousHeartbeat as TrainHeadResume | undefined,
    });
    return {
      artifacts: {
        'model.json': result.model.modelJson,
        'weights.bin': result.model.weights,
        'head/model.json': result.head.modelJson,
        'head/weights.bin': result.head.weights,
      },
      metrics: {
        ...lastEpoch(result.history),
        trainingImagesPerSecond: result.trainingImagesPerSecond,
        featureImagesPerSecond: result.featureImagesPerSecond,
      },
      counts: {
        epochs: params.head.epochs,
        resumedFromEpoch: result.resumedFromEpoch,
        ...prefixed('parameters', result.parameters),
      },
      info: {
        history: result.history,
        backend: result.backend,
        classNames: inputs['augment-cache'].info.classNames,
      },
    };
  },
});

export const fineTune = defineStage({
  name: 'fine-tune',
  version: 2,
  params: z.object({
    fineTune: fineTuneSchema,
    dropout: z.number(),
    baseModel: baseModelSchema,
    backend: backendSchema,
    seed: z.number().int(),
  }),
  run: async (context) => {
    const { params, inputs } = context;
    const head: StoredModel = {
      modelJson: inputs['train-head'].artifacts['head/model.json'],
      weights: inputs['train-head'].artifacts['head/weights.bin'],
    };
    const result = await runStageJob(context, 'fine-tune', {
      storeUri: context.storeUri,
      attemptPrefix: context.attemptPrefix,
      backend: params.backend,
      baseModel: params.baseModel,
      ...imageSize(inputs['augment-cache']),
      epochs: params.fineTune.epochs,
      batchSize: params.fineTune.batchSize,
      learningRate: params.fineTune.learningRate,
      fromLayer: params.fineTune.fromLayer,
      dropout: params.dropout,
      seed: params.seed,
      head,
      ...trainingShards(inputs['augment-cache']),
      resume: context.previousHeartbeat as FineTuneResume | undefined,
    });
    if (result.batchNormStatistics.before !== result.batchNormStatistics.after) {
      throw new Error(
        'BatchNormalization moving statistics changed during fine-tuning; the base must run in inference mode.',
      );
    }
    return {
      artifacts: { 'model.json': result.model.modelJson, 'weights.bin': result.model.weights },
      metrics: { ...lastEpoch(result.history), trainingImagesPerSecond: result.trainingImagesPerSecond },
      counts: {
        epochs: params.fineTune.epochs,
        resumedFromEpoch: result.resumedFromEpoch,
        trainableLayers: result.trainableLayers,
        ...prefixed('parameters', result.parameters),
      },
      info: {
        history: result.history,
        backend: result.backend,
        classNames: inputs['augment-cache'].info.classNames,
        batchNormStatistics: result.batchNormStatistics,
      },
    };
  },
});

export const trainBaseline = defineStage({
  name: 'train-baseline',
  version: 2,
  params: z.object({ baseline: baselineSchema, backend: backendSchema, seed: z.number().int() }),
  run: async (context) => {
    const { params, inputs } = context;
    const result = await runStageJob(context, 'train-baseline', {
      storeUri: context.storeUri,
      attemptPrefix: context.attemptPrefix,
      backend: params.backend,
      ...imageSize(inputs['augment-cache']),
      epochs: params.baseline.epochs,
      batchSize: params.baseline.batchSize,
      learningRate: params.baseline.learningRate,
      dropout: params.baseline.dropout,
      seed: params.seed,
      ...trainingShards(inputs['augment-cache']),
      resume: context.previousHeartbeat as BaselineResume | undefined,
    });
    return {
      artifacts: { 'model.json': result.model.modelJson, 'weights.bin': result.model.weights },
      metrics: { ...lastEpoch(result.history), trainingImagesPerSecond: result.trainingImagesPerSecond },
      counts: {
        epochs: params.baseline.epochs,
        resumedFromEpoch: result.resumedFromEpoch,
        parameters: result.parameters,
      },
      info: { history: result.history, backend: result.backend },
    };
  },
});

type BaselineResume = Parameters<typeof import('../lib/compute/baseline').trainBaselineJob>[0]['resume'];

function lastEpoch(history: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(history).map(([name, values]) => [name, values[values.length - 1]]),
  );
}

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [`${prefix}:${name}`, value]));
}
