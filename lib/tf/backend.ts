import * as os from 'node:os';
import { InvalidInputError } from '../errors';
import type { Tf } from './tf';

/** Backend requested by configuration; `auto` picks the fastest that loads. */
export type BackendPreference = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';

/** The kind of work a compute job does, as logged with its backend. */
export type ComputeRole = 'inference' | 'training';

/** The backend a compute job selected, as workers log it. */
export interface BackendInfo {
  /** TensorFlow.js backend name: `tensorflow`, `wasm` or `cpu`. */
  backend: string;
  /** npm package the backend came from. */
  package: string;
  /** True for libtensorflow (tfjs-node or tfjs-node-gpu), which trains every layer type at native speed. */
  native: boolean;
  device: string;
  threads: number;
}

export interface SelectedBackend {
  tf: Tf;
  info: BackendInfo;
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/**
 * Loads TensorFlow.js with the fastest backend that supports a compute role.
 *
 * The order is tfjs-node-gpu, then tfjs-node, then plain tfjs with the wasm backend (SIMD, one
 * thread), then the pure-JS cpu backend. tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter and the
 * depthwise backprop kernels; callers that train on it register replacements with
 * registerConvGradientKernels.
 *
 * @throws InvalidInputError if a backend was forced and cannot load.
 */
export async function selectBackend(
  _role: ComputeRole,
  preference: BackendPreference = 'auto',
): Promise<SelectedBackend> {
  if (preference === 'auto' || preference === 'tfjs-node-gpu' || preference === 'tfjs-node') {
    const candidates = preference === 'auto' ? NATIVE_PACKAGES : [preference];
    for (const name of candidates) {
      const loaded = tryLoadNative(name);
      if (loaded) return loaded;
    }
    if (preference !== 'auto') {
      throw new InvalidInputError(
        `The forced backend ${preference} cannot load: the package or its libtensorflow is not installed. ` +
          'Install it, or set backend to auto.',
      );
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as Tf;
  let useWasm = preference === 'wasm' || preference === 'auto';
  if (useWasm) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-backend-wasm');
    const ready = await tf.setBackend('wasm');
    if (!ready && preference === 'wasm')
      throw new InvalidInputError(
        'The forced backend wasm failed to initialize. Set backend to auto or cpu.',
      );
    useWasm = ready;
  }
  if (!useWasm) await tf.setBackend('cpu');
  await tf.ready();
  return {
    tf,
    info: {
      backend: tf.getBackend(),
      package: useWasm ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-cpu',
      native: false,
      device: `${os.cpus()[0]?.model ?? 'CPU'}`.trim(),
      threads: 1,
    },
  };
}

function tryLoadNative(name: string): SelectedBackend | undefined {
  let tf: Tf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    tf = require(name) as Tf;
  } catch {
    return undefined;
  }
  const gpu = name.endsWith('-gpu');
  return {
    tf,
    info: {
      backend: tf.getBackend(),
      package: name,
      native: true,
      device: gpu ? 'GPU (CUDA)' : `${os.cpus()[0]?.model ?? 'CPU'}`.trim(),
      threads: gpu ? 1 : os.cpus().length,
    },
  };
}
