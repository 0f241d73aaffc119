/**
 * The TensorFlow.js namespace that retrain's compute code is written against. Every backend package
 * (`@tensorflow/tfjs`, `@tensorflow/tfjs-node`, `@tensorflow/tfjs-node-gpu`) exports this same API.
 */
export type Tf = typeof import('@tensorflow/tfjs');
export type LayersModel = import('@tensorflow/tfjs').LayersModel;
export type Tensor = import('@tensorflow/tfjs').Tensor;
