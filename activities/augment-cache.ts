import { augmentSchema } from '../lib/config';
import { shardArtifacts, shardGroupsOf, type ShardGroups } from '../lib/data/shards';
import { runStageJob } from './compute';
import { defineStage } from './stage';

/**
 * Stores a fixed number of augmented copies of the training split, so that each epoch can train
 * on another copy without decoding images again. Validation and test shards pass through as they
 * are, because augmentation applies to training images only.
 */
export const augmentCache = defineStage({
  name: 'augment-cache',
  version: 2,
  params: augmentSchema,
  run: async (context) => {
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
    });
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
  },
});
