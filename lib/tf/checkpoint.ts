import type { ArtifactRef } from '../pipeline';
import { readArtifact, type ArtifactStore } from '../store';
import type { Tf } from './tf';

type Variable = import('@tensorflow/tfjs').Variable;
type Optimizer = import('@tensorflow/tfjs').Optimizer;

/** A training checkpoint in the store: weights, optimizer state and the history so far. */
export interface CheckpointRef {
  /** Number of epochs completed. */
  epoch: number;
  state: ArtifactRef;
  variables: ArtifactRef;
  optimizer: ArtifactRef;
}

export type History = Record<string, number[]>;

interface CheckpointState {
  epoch: number;
  history: History;
  variableSpecs: unknown[];
  optimizerSpecs: unknown[];
}

/** Writes the values of the trainable variables and the optimizer's slots after an epoch. */
export async function saveCheckpoint(
  tf: Tf,
  store: ArtifactStore,
  prefix: string,
  epoch: number,
  variables: Variable[],
  optimizer: Optimizer,
  history: History,
): Promise<CheckpointRef> {
  const folder = `${prefix}/checkpoints/epoch-${String(epoch).padStart(4, '0')}`;
  const encodedVariables = await tf.io.encodeWeights(
    variables.map((variable, i) => ({ name: `v${i}`, tensor: variable })),
  );
  const encodedOptimizer = await tf.io.encodeWeights(await optimizer.getWeights());
  const variablesArtifact = await store.put(
    `${folder}/variables.bin`,
    Buffer.from(encodedVariables.data as ArrayBuffer),
  );
  const optimizerArtifact = await store.put(
    `${folder}/optimizer.bin`,
    Buffer.from(encodedOptimizer.data as ArrayBuffer),
  );
  const state: CheckpointState = {
    epoch,
    history,
    variableSpecs: encodedVariables.specs,
    optimizerSpecs: encodedOptimizer.specs,
  };
  const stateArtifact = await store.put(`${folder}/state.json`, Buffer.from(JSON.stringify(state)));
  return { epoch, state: stateArtifact, variables: variablesArtifact, optimizer: optimizerArtifact };
}

/**
 * Restores variables and optimizer state from a checkpoint and returns its epoch and history.
 * Variables are matched by position, so the caller must build them in the same order.
 */
export async function restoreCheckpoint(
  tf: Tf,
  store: ArtifactStore,
  checkpoint: CheckpointRef,
  variables: Variable[],
  optimizer: Optimizer,
): Promise<{ epoch: number; history: History }> {
  const state = JSON.parse(
    (await readArtifact(store, checkpoint.state, 'a training checkpoint')).toString('utf8'),
  ) as CheckpointState;
  const toArrayBuffer = (buffer: Buffer) =>
    buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
  const values = tf.io.decodeWeights(
    toArrayBuffer(await readArtifact(store, checkpoint.variables, 'a training checkpoint')),
    state.variableSpecs as never,
  );
  variables.forEach((variable, i) => {
    const value = values[`v${i}`];
    if (!value || value.shape.join() !== variable.shape.join()) {
      throw new Error(`Checkpoint ${checkpoint.state.uri} does not match the model: variable ${i} differs.`);
    }
    variable.assign(value);
  });
  const slots = tf.io.decodeWeights(
    toArrayBuffer(await readArtifact(store, checkpoint.optimizer, 'a training checkpoint')),
    state.optimizerSpecs as never,
  );
  await optimizer.setWeights(
    (state.optimizerSpecs as { name: string }[]).map((spec) => ({
      name: spec.name,
      tensor: slots[spec.name],
    })),
  );
  return { epoch: state.epoch, history: state.history };
}
