import type { ArtifactStore } from '../store';
import { restoreCheckpoint, saveCheckpoint, type CheckpointRef } from '../tf/checkpoint';
import { fit, type FitOptions, type FitResult } from '../tf/fit';
import type { JobContext } from './context';

export interface CheckpointedFitOptions extends Omit<
  FitOptions,
  'initialEpoch' | 'history' | 'onProgress' | 'onEpochEnd' | 'log'
> {
  store: ArtifactStore;
  attemptPrefix: string;
  context: JobContext;
  /** Checkpoint from the previous attempt's last heartbeat, to resume from. */
  checkpoint?: CheckpointRef;
  /** Other resume state (cached features or activations) sent with every heartbeat. */
  resumeState: () => Record<string, unknown>;
}

/**
 * Trains with {@link fit}, resuming from a checkpoint when given one, saving a checkpoint after
 * every epoch and sending it with the resume state in each heartbeat, so that a retried attempt
 * starts from the last completed epoch.
 */
export async function fitWithCheckpoints(
  options: CheckpointedFitOptions,
): Promise<FitResult & { resumedFromEpoch: number }> {
  const { tf, store, context, variables, optimizer } = options;
  let initialEpoch = 0;
  let history = {};
  if (options.checkpoint) {
    ({ epoch: initialEpoch, history } = await restoreCheckpoint(
      tf,
      store,
      options.checkpoint,
      variables,
      optimizer,
    ));
    context.log('Resuming training from checkpoint', { phase: options.phase, epoch: initialEpoch });
  }

  let checkpoint = options.checkpoint;
  const result = await fit({
    ...options,
    initialEpoch,
    history,
    onProgress: (progress) => context.progress(progress, { ...options.resumeState(), checkpoint }),
    onEpochEnd: async (epoch, epochHistory) => {
      checkpoint = await saveCheckpoint(
        tf,
        store,
        options.attemptPrefix,
        epoch,
        variables,
        optimizer,
        epochHistory,
      );
      context.progress(
        { phase: options.phase, epoch, epochs: options.epochs, message: 'checkpoint saved' },
        { ...options.resumeState(), checkpoint },
      );
    },
    log: (message) => context.log(message),
  });
  return { ...result, resumedFromEpoch: initialEpoch };
}
