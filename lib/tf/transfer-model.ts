import { InvalidInputError } from '../errors';
import { loadLayersModel } from './model-io';
import type { LayersModel, Tensor, Tf } from './tf';

type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;
type Layer = import('@tensorflow/tfjs').layers.Layer;

export interface BaseModelOptions {
  uri: string;
  /** Layer to cut after; the last layer with a 4-D output when omitted. */
  outputLayer?: string;
  preprocessing: { scale: number; offset: number };
}

/** The head Keras's guide puts on a frozen base: Dropout, then one Dense layer producing logits. */
export interface Head {
  dropout: Layer;
  dense: Layer;
  /** 1 for binary tasks (one logit, sigmoid cross-entropy), else the number of classes. */
  units: number;
}

/** Loads a base model for an input size, ending at its feature-map layer (include_top=False). */
export async function loadBase(
  tf: Tf,
  options: BaseModelOptions,
  height: number,
  width: number,
): Promise<LayersModel> {
  const outputLayer = options.outputLayer ?? (await lastFeatureMapLayer(tf, options.uri));
  return loadLayersModel(tf, options.uri, { inputSize: [height, width], outputLayer });
}

/**
 * Finds the last layer whose output is a 4-D feature map larger than 1x1, by loading the model at
 * its own input size, where its original classifier still fits.
 *
 * @throws InvalidInputError if no layer has a 4-D output.
 */
export async function lastFeatureMapLayer(tf: Tf, uri: string): Promise<string> {
  const model = await loadLayersModel(tf, uri);
  try {
    const layer = [...model.layers].reverse().find((candidate) => {
      const shape = candidate.outputShape;
      // A 1x1 map (the output of a classifier's pooling layer) is not a feature map to pool again.
      return (
        Array.isArray(shape) &&
        !Array.isArray(shape[0]) &&
        shape.length === 4 &&
        Number(shape[1]) * Number(shape[2]) > 1
      );
    });
    if (!layer)
      throw new InvalidInputError(`No layer of ${uri} outputs a 4-D feature map; set baseModel.outputLayer.`);
    return layer.name;
  } finally {
    model.dispose();
  }
}

export function createHead(tf: Tf, numClasses: number, dropout: number): Head {
  const units = numClasses === 2 ? 1 : numClasses;
  return {
    dropout: tf.layers.dropout({ rate: dropout, name: 'head_dropout' }),
    dense: tf.layers.dense({ units, name: 'head_logits' }),
    units,
  };
}

/**
 * Applies the head to base features: GlobalAveragePooling2D (skipped for features pooled
 * already), Dropout active only while training, and the Dense logits.
 */
export function applyHead(tf: Tf, head: Head, features: Tensor, training: boolean): Tensor {
  const pooled = features.rank === 4 ? tf.mean(features, [1, 2]) : features;
  return head.dense.apply(head.dropout.apply(pooled, { training }), { training }) as Tensor;
}

/**
 * Builds the servable model: raw pixels in [0, 255], Rescaling to the base's range, the base, then
 * GlobalAveragePooling2D, Dropout and Dense. It shares layers (and so weights) with the base and
 * head it is built from.
 */
export function assembleModel(
  tf: Tf,
  base: LayersModel,
  head: Head,
  preprocessing: { scale: number; offset: number },
): LayersModel {
  const [, height, width, channels] = base.inputs[0].shape as number[];
  const input = tf.input({ shape: [height, width, channels], name: 'pixels' });
  const rescaled = tf.layers
    .rescaling({ scale: preprocessing.scale, offset: preprocessing.offset, name: 'rescaling' })
    .apply(input);
  const features = base.apply(rescaled) as SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'head_pooling' }).apply(features);
  const logits = head.dense.apply(head.dropout.apply(pooled)) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'retrained' });
}

/** A base model cut in two before a layer: `bottom` stays frozen, `top` is fine-tuned. */
export interface SplitBase {
  bottom: LayersModel;
  top: LayersModel;
}

/**
 * Cuts a functional model at the input of a named layer. Every later layer that depends on the cut
 * tensor goes into `top`, which is rebuilt on a new Input and shares its weights with the original.
 * The cut must be a single tensor that no later layer bypasses.
 *
 * @throws InvalidInputError if the layer is missing, takes several inputs, or a later layer also
 *   reads a tensor from below the cut (a residual connection across it).
 */
export function splitBase(tf: Tf, base: LayersModel, fromLayer: string): SplitBase {
  let first: Layer;
  try {
    first = base.getLayer(fromLayer);
  } catch {
    throw new InvalidInputError(
      `fineTune.fromLayer ${JSON.stringify(fromLayer)} is not a layer of the base model.`,
    );
  }
  const cutInputs = first.inboundNodes[0].inputTensors;
  if (cutInputs.length !== 1) {
    throw new InvalidInputError(
      `fineTune.fromLayer ${fromLayer} takes ${cutInputs.length} inputs; pick a layer with one input.`,
    );
  }
  const cut = cutInputs[0];
  const input = tf.input({ shape: cut.shape.slice(1) as number[], name: `${fromLayer}_input` });
  const mapped = new Map<SymbolicTensor, SymbolicTensor>([[cut, input]]);

  const startIndex = base.layers.indexOf(first);
  for (const layer of base.layers.slice(startIndex)) {
    const node = layer.inboundNodes[0];
    const inputs = node.inputTensors;
    if (!inputs.some((tensor) => mapped.has(tensor))) continue;
    const missing = inputs.find((tensor) => !mapped.has(tensor));
    if (missing) {
      throw new InvalidInputError(
        `Cannot fine-tune from ${fromLayer}: layer ${layer.name} also reads ${missing.name}, which is below the cut. ` +
          'Pick a layer where the network narrows to one tensor, such as the first layer of a block.',
      );
    }
    const applied = layer.apply(
      inputs.length === 1 ? mapped.get(inputs[0])! : inputs.map((tensor) => mapped.get(tensor)!),
    );
    const outputs = Array.isArray(applied) ? applied : [applied];
    node.outputTensors.forEach((tensor, i) => mapped.set(tensor, outputs[i] as SymbolicTensor));
  }

  const output = mapped.get(base.outputs[0]);
  if (!output)
    throw new InvalidInputError(
      `fineTune.fromLayer ${fromLayer} is not below the base model's output layer.`,
    );
  return {
    bottom: tf.model({ inputs: base.inputs, outputs: cut, name: 'frozen_bottom' }),
    top: tf.model({ inputs: input, outputs: output, name: 'trainable_top' }),
  };
}
