import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidInputError } from '../errors';
import { readArtifact, type Artifact, type ArtifactStore } from '../store';
import { S3ArtifactStore } from '../store/s3-store';
import type { LayersModel, Tf } from './tf';

interface ModelJson {
  format?: string;
  modelTopology?: { class_name?: string; model_config?: ModelConfig; node?: unknown } & Record<
    string,
    unknown
  >;
  weightsManifest?: { paths: string[]; weights: unknown[] }[];
}
interface ModelConfig {
  class_name: string;
  config: { layers: LayerConfig[]; output_layers?: unknown } & Record<string, unknown>;
}
interface LayerConfig {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes?: [string, number, number, unknown][][];
}

/** Options for {@link loadLayersModel}. */
export interface LoadModelOptions {
  /** Replaces the input layer's height and width, for fully convolutional models such as MobileNetV2. */
  inputSize?: [number, number];
  /**
   * Ends the model at this layer's output, dropping every layer after it, as Keras's
   * `include_top=False` does. Dropping the top before loading lets the input size change even when
   * the original classifier has a fixed-size pooling or Dense layer.
   */
  outputLayer?: string;
}

/**
 * Loads a TensorFlow.js LayersModel (model.json plus weight shards) from a local path, a file:// URI,
 * an http(s) URL or an s3:// URI.
 *
 * @throws InvalidInputError if model.json cannot be read, describes a graph model, or names a weight
 *   shard outside the model's folder.
 */
export async function loadLayersModel(
  tf: Tf,
  location: string,
  options: LoadModelOptions = {},
): Promise<LayersModel> {
  const modelJson = await readModelJson(location);

  const topology = modelJson.modelTopology;
  // Keras-converted files wrap the model config in model_config; models saved by TensorFlow.js
  // itself put it at the top of modelTopology.
  const modelConfig =
    topology?.model_config ?? (topology?.class_name ? (topology as unknown as ModelConfig) : undefined);
  if (modelJson.format === 'graph-model' || !topology || topology.node !== undefined || !modelConfig) {
    throw new InvalidInputError(
      `${location} is a TensorFlow.js graph model, which holds a frozen inference graph and cannot be ` +
        'fine-tuned. Convert the Keras model with tensorflowjs_converter --output_format=tfjs_layers_model.',
    );
  }
  if (options.outputLayer) truncateAt(modelConfig, options.outputLayer, location);
  if (options.inputSize) setInputSize(modelConfig, options.inputSize, location);

  const weightSpecs = [];
  const shards: Buffer[] = [];
  for (const group of modelJson.weightsManifest ?? []) {
    weightSpecs.push(...group.weights);
    for (const shardPath of group.paths) shards.push(await readResource(resolveShard(location, shardPath)));
  }
  const weightData = concatToArrayBuffer(shards);

  // strict: false skips the weights of layers that truncation dropped.
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: topology,
      weightSpecs: weightSpecs as never,
      weightData,
    }),
    { strict: !options.outputLayer },
  );
}

/**
 * Saves a LayersModel to the artifact store as model.json and one weights.bin shard under a key
 * prefix, and returns both artifacts.
 */
export async function saveLayersModel(
  model: LayersModel,
  store: ArtifactStore,
  prefix: string,
): Promise<{ modelJson: Artifact; weights: Artifact }> {
  let saved: { modelJson: Artifact; weights: Artifact } | undefined;
  await model.save({
    save: async (artifacts) => {
      const weightData = artifacts.weightData;
      const bytes = Buffer.from(
        Array.isArray(weightData)
          ? concatToArrayBuffer(weightData.map((b) => Buffer.from(b)))
          : (weightData ?? new ArrayBuffer(0)),
      );
      const weights = await store.put(`${prefix}/weights.bin`, bytes);
      const json = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      const modelJson = await store.put(`${prefix}/model.json`, Buffer.from(JSON.stringify(json)));
      saved = { modelJson, weights };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  if (!saved) throw new Error(`Saving the model under ${prefix} produced no artifacts.`);
  return saved;
}

async function readModelJson(location: string): Promise<ModelJson> {
  let text: string;
  try {
    text = (await readResource(location)).toString('utf8');
  } catch (error) {
    // Server errors and lost connections may pass, so they stay retryable; anything else is bad input.
    if (error instanceof TransientFetchError) throw error;
    throw new InvalidInputError(
      `Cannot read the base model at ${location}: ${(error as Error).message}. ` +
        'Point baseModel.uri at a TensorFlow.js model.json (path, file:// or http(s) URL).',
    );
  }
  try {
    return JSON.parse(text) as ModelJson;
  } catch {
    throw new InvalidInputError(`${location} is not valid JSON; expected a TensorFlow.js model.json.`);
  }
}

function truncateAt(config: ModelConfig, outputLayer: string, location: string): void {
  const layers = config.config.layers;
  const byName = new Map(layers.map((layer) => [layer.name, layer]));
  if (!byName.has(outputLayer)) {
    throw new InvalidInputError(
      `Layer ${JSON.stringify(outputLayer)} is not in ${location}. Its last layers are: ` +
        `${layers
          .slice(-6)
          .map((layer) => layer.name)
          .join(', ')}.`,
    );
  }
  const kept = new Set<string>();
  const pending = [outputLayer];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (kept.has(name)) continue;
    kept.add(name);
    for (const node of byName.get(name)?.inbound_nodes ?? [])
      for (const [inbound] of node) pending.push(inbound);
  }
  config.config.layers = layers.filter((layer) => kept.has(layer.name));
  config.config.output_layers = [[outputLayer, 0, 0]];
}

function setInputSize(config: ModelConfig, [height, width]: [number, number], location: string): void {
  const inputs = config.config.layers.filter((layer) => layer.class_name === 'InputLayer');
  if (inputs.length !== 1) {
    throw new InvalidInputError(
      `Cannot change the input size of ${location}: it has ${inputs.length} input layers, expected 1.`,
    );
  }
  const shape = inputs[0].config.batch_input_shape as (number | null)[];
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new InvalidInputError(
      `Cannot change the input size of ${location}: its input shape is ${JSON.stringify(shape)}, expected [batch, height, width, channels].`,
    );
  }
  inputs[0].config.batch_input_shape = [shape[0], height, width, shape[3]];
}

/** Resolves a weight shard path against model.json's folder, rejecting paths that escape it. */
function resolveShard(location: string, shardPath: string): string {
  const base = toUrl(location);
  const resolved = new URL(shardPath, base);
  const folder = new URL('.', base);
  if (resolved.origin !== folder.origin || !resolved.pathname.startsWith(folder.pathname)) {
    throw new InvalidInputError(
      `Weight shard path ${JSON.stringify(shardPath)} in ${location} points outside the model's folder; ` +
        'shard paths must be relative names inside it.',
    );
  }
  // s3:// URIs carry their connection settings in the query, which relative resolution drops.
  if (resolved.protocol === 's3:') resolved.search = base.search;
  return resolved.href;
}

function toUrl(location: string): URL {
  if (/^(https?|file|s3):\/\//.test(location)) return new URL(location);
  return pathToFileURL(path.resolve(location));
}

/** Error for a download that may succeed when retried: an HTTP 5xx or 429 status, or a network failure. */
export class TransientFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientFetchError';
  }
}

async function readResource(location: string): Promise<Buffer> {
  const url = toUrl(location);
  if (url.protocol === 'file:') return fs.readFile(fileURLToPath(url));
  if (url.protocol === 's3:') return readS3Object(url);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new TransientFetchError(`GET ${url.href} failed: ${(error as Error).message}`);
  }
  if (response.status >= 500 || response.status === 429) {
    throw new TransientFetchError(`GET ${url.href} returned HTTP ${response.status}; retrying may succeed.`);
  }
  if (!response.ok) throw new Error(`GET ${url.href} returned HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

async function readS3Object(url: URL): Promise<Buffer> {
  const key = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  const store = new S3ArtifactStore(`s3://${url.hostname}${url.search}`);
  let data: Buffer | undefined;
  try {
    data = await store.get(key);
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw new TransientFetchError((error as Error).message);
  }
  if (data === undefined) throw new Error(`s3://${url.hostname}/${key} does not exist`);
  return data;
}

function concatToArrayBuffer(parts: Buffer[]): ArrayBuffer {
  const joined = Buffer.concat(parts);
  return joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer;
}

/** A LayersModel saved in the artifact store. */
export interface StoredModel {
  modelJson: Artifact;
  weights: Artifact;
}

/** Loads a LayersModel saved by {@link saveLayersModel}, checking both files' sha256 first. */
export async function loadStoredModel(
  tf: Tf,
  store: ArtifactStore,
  model: StoredModel,
  writtenBy: string,
): Promise<LayersModel> {
  const json = JSON.parse(
    (await readArtifact(store, model.modelJson, writtenBy)).toString('utf8'),
  ) as ModelJson;
  const weights = await readArtifact(store, model.weights, writtenBy);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology as never,
      weightSpecs: (json.weightsManifest ?? []).flatMap((group) => group.weights) as never,
      weightData: concatToArrayBuffer([weights]),
    }),
  );
}
