import type { z } from 'zod';
import { augmentSchema } from '../lib/config';
import { shardArtifacts, shardGroupsOf, type ShardGroups, type ShardRef } from '../lib/data/shards';
import { runStageJob } from './compute';
import { defineStage, type StageContext, type StageOutput } from './stage';

type AugmentContext = StageContext<z.infer<typeof augmentSchema>>;

/**
 * Stores a fixed number of augmented copies of the training split, so that each epoch can train
 * on another copy without decoding images again. Validation and test shards pass through as they
 * are, because augmentation applies to training images only. Each (copy, shard) pair is
 * independent, so the stage can fan out: part k of n augments every n-th pair, and the merge puts
 * them back in order.
 */
export const augmentCache = defineStage({
  name: 'augment-cache',
  version: 2,
  params: augmentSchema,
  run: async (context) => mergeCopies(context, [await augmentPart(context, { index: 0, count: 1 })]),
  shards: { run: augmentPart, merge: mergeCopies },
});

async function augmentPart(
  context: AugmentContext,
  part: { index: number; count: number },
): Promise<StageOutput> {
  const resized = shardGroupsOf(context.inputs.resize);
  const copies = await runStageJob(context, 'augment', {
    storeUri: context.storeUri,
    attemptPrefix: context.attemptPrefix,
    train: resized.train,
    flip: context.params.flip,
    rotation: context.params.rotation,
    copies: context.params.copies,
    seed: context.params.seed,
    resume: context.previousHeartbeat as ShardGroups | undefined,
    part,
  });
  const done = Object.fromEntries(
    Object.entries(copies).map(([group, shards]) => [group, shards.filter(Boolean)]),
  );
  return { artifacts: shardArtifacts(done), info: { copies } };
}

async function mergeCopies(context: AugmentContext, parts: StageOutput[]): Promise<StageOutput> {
  const resized = shardGroupsOf(context.inputs.resize);
  const copies: ShardGroups = {};
  for (let copy = 0; copy < context.params.copies; copy++) {
    const group = `train-copy-${copy}`;
    copies[group] = resized.train.map((_, index) => {
      const shard = parts
        .map((part) => (part.info?.copies as Record<string, (ShardRef | null)[]>)[group]?.[index])
        .find(Boolean);
      if (!shard) throw new Error(`No part produced shard ${index} of ${group}.`);
      return shard;
    });
  }
  const shards: ShardGroups = { ...copies, validation: resized.validation, test: resized.test };
  return {
    artifacts: shardArtifacts(shards),
    counts: {
      copies: context.params.copies,
      train: resized.train.reduce((sum, shard) => sum + shard.count, 0),
    },
    info: {
      shards,
      classNames: context.inputs.resize.info.classNames,
      height: context.inputs.resize.info.height,
      width: context.inputs.resize.info.width,
    },
  };
}
