type Layer = import('@tensorflow/tfjs').layers.Layer;

/**
 * Sets `trainable` on a layer and, for a nested model, on every layer inside it.
 *
 * Porting note: Keras's `model.trainable = False` freezes every sublayer, but TensorFlow.js only
 * hides the weights from the outer model's trainableWeights while the nested layers still report
 * themselves trainable. This restores Keras's recursive behaviour.
 */
export function setTrainable(layer: Layer, trainable: boolean): void {
  layer.trainable = trainable;
  const nested = (layer as unknown as { layers?: Layer[] }).layers;
  for (const child of nested ?? []) setTrainable(child, trainable);
}
