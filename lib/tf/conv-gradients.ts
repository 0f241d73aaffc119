import type { Tf, Tensor } from './tf';

type Tensor4D = import('@tensorflow/tfjs').Tensor4D;
type Pad = 'same' | 'valid' | number | number[][];

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dilations?: number | [number, number];
  filterShape?: number[];
  inputShape?: number[];
}

type TensorInfo = { dataId: object; shape: number[]; dtype: string };
interface KernelBackend {
  readSync(dataId: object): Float32Array;
  write(values: Float32Array, shape: number[], dtype: string): object;
}

const registeredBackends = new Set<string>();

/**
 * Registers Conv2DBackpropFilter, Conv2DBackpropInput, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput kernels on a backend, built from slices, matrix products and
 * sums, so that convolutional layers train where those kernels are missing or slow.
 *
 * TensorFlow.js 4.22's wasm backend lacks three of them and runs Conv2DBackpropInput slowly. The
 * cpu backend's Conv2DBackpropFilter is a naive loop, which took about 20 s for one batch of 32
 * through a 1x1 convolution from 320 to 1,280 channels on a 3x3 map (2-core AMD EPYC). The kernels
 * here use one matMul, or one multiply-and-sum, per filter tap. Native backends (tfjs-node) keep
 * their own.
 *
 * The kernels copy their inputs out of the backend and their result back in, because a kernel
 * function receives raw tensor handles. The copies are small next to the products they feed.
 */
export function registerConvGradientKernels(tf: Tf, backendName: string): void {
  if (registeredBackends.has(backendName)) return;
  registeredBackends.add(backendName);

  const register = (
    kernelName: string,
    compute: (inputs: Record<string, Tensor4D>, attrs: ConvAttrs) => Tensor,
  ) => {
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const kernelBackend = backend as unknown as KernelBackend;
        const result = tf.tidy(() => {
          const tensors: Record<string, Tensor4D> = {};
          for (const [name, info] of Object.entries(inputs as unknown as Record<string, TensorInfo>)) {
            tensors[name] = tf.tensor4d(
              kernelBackend.readSync(info.dataId),
              info.shape as [number, number, number, number],
              'float32',
            );
          }
          return compute(tensors, attrs as unknown as ConvAttrs);
        });
        const values = result.dataSync() as Float32Array;
        const shape = result.shape;
        result.dispose();
        return { dataId: kernelBackend.write(values, shape, 'float32'), shape, dtype: 'float32' } as never;
      },
    });
  };

  register('Conv2DBackpropFilter', ({ x, dy }, attrs) =>
    conv2dFilterGradient(tf, x, dy, attrs.filterShape as number[], checkAttrs(attrs, 'Conv2DBackpropFilter')),
  );
  register('Conv2DBackpropInput', ({ dy, filter }, attrs) =>
    conv2dInputGradient(
      tf,
      attrs.inputShape as number[],
      dy,
      filter,
      checkAttrs(attrs, 'Conv2DBackpropInput'),
    ),
  );
  register('DepthwiseConv2dNativeBackpropFilter', ({ x, dy }, attrs) =>
    depthwiseFilterGradient(
      tf,
      x,
      dy,
      attrs.filterShape as number[],
      checkAttrs(attrs, 'DepthwiseConv2dNativeBackpropFilter'),
    ),
  );
  register('DepthwiseConv2dNativeBackpropInput', ({ dy, filter }, attrs) =>
    depthwiseInputGradient(
      tf,
      attrs.inputShape as number[],
      dy,
      filter,
      checkAttrs(attrs, 'DepthwiseConv2dNativeBackpropInput'),
    ),
  );
}

interface Geometry {
  strides: [number, number];
  pad: Pad;
}

function checkAttrs(attrs: ConvAttrs, kernel: string): Geometry {
  const dilations = toPair(attrs.dilations ?? 1);
  if (dilations[0] !== 1 || dilations[1] !== 1) {
    throw new Error(
      `Gradient of ${kernel} with dilations [${dilations}] is not supported; only dilation 1 is.`,
    );
  }
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC' && attrs.dataFormat !== 'channelsLast') {
    throw new Error(
      `Gradient of ${kernel} with data format ${attrs.dataFormat} is not supported; only NHWC is.`,
    );
  }
  return { strides: toPair(attrs.strides), pad: attrs.pad };
}

function toPair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

/** Padding added before the first row (or column), following TensorFlow's SAME and VALID rules. */
function padBefore(
  pad: Pad,
  inSize: number,
  outSize: number,
  kernel: number,
  stride: number,
  axis: 1 | 2,
): number {
  if (pad === 'valid') return 0;
  if (pad === 'same') return Math.floor(Math.max((outSize - 1) * stride + kernel - inSize, 0) / 2);
  if (typeof pad === 'number') return pad;
  return pad[axis][0];
}

/**
 * Pads x so that every filter tap (i, j) reads rows i, i + stride, ... of the padded input, and
 * returns the strided slice that tap sees: shape [batch, outHeight, outWidth, channels].
 */
function tapSlices(tf: Tf, x: Tensor4D, outShape: number[], kernel: [number, number], geometry: Geometry) {
  const [batch, inHeight, inWidth, channels] = x.shape;
  const [, outHeight, outWidth] = outShape;
  const [strideH, strideW] = geometry.strides;
  const top = padBefore(geometry.pad, inHeight, outHeight, kernel[0], strideH, 1);
  const left = padBefore(geometry.pad, inWidth, outWidth, kernel[1], strideW, 2);
  const neededHeight = (outHeight - 1) * strideH + kernel[0];
  const neededWidth = (outWidth - 1) * strideW + kernel[1];
  const padded = tf.pad(x, [
    [0, 0],
    [top, Math.max(0, neededHeight - inHeight - top)],
    [left, Math.max(0, neededWidth - inWidth - left)],
    [0, 0],
  ]);
  return {
    top,
    left,
    neededHeight,
    neededWidth,
    // A plain slice is much faster than stridedSlice on the wasm backend, so it serves stride 1.
    slice: (i: number, j: number) =>
      strideH === 1 && strideW === 1
        ? (tf.slice(padded, [0, i, j, 0], [batch, outHeight, outWidth, channels]) as Tensor4D)
        : (tf.stridedSlice(
            padded,
            [0, i, j, 0],
            [batch, i + (outHeight - 1) * strideH + 1, j + (outWidth - 1) * strideW + 1, channels],
            [1, strideH, strideW, 1],
          ) as Tensor4D),
  };
}

function conv2dFilterGradient(
  tf: Tf,
  x: Tensor4D,
  dy: Tensor4D,
  filterShape: number[],
  geometry: Geometry,
): Tensor {
  const [kernelH, kernelW, inChannels, outChannels] = filterShape;
  return tf.tidy(() => {
    const rows = dy.shape[0] * dy.shape[1] * dy.shape[2];
    const dyMatrix = tf.reshape(dy, [rows, outChannels]);
    const taps = tapSlices(tf, x, dy.shape, [kernelH, kernelW], geometry);
    const gradients: Tensor[] = [];
    for (let i = 0; i < kernelH; i++) {
      for (let j = 0; j < kernelW; j++) {
        // An explicit transpose is faster on wasm than matMul's transposeA flag.
        const columns = tf.transpose(tf.reshape(taps.slice(i, j), [rows, inChannels]));
        gradients.push(tf.matMul(columns, dyMatrix));
      }
    }
    return tf.reshape(tf.stack(gradients), [kernelH, kernelW, inChannels, outChannels]);
  });
}

function depthwiseFilterGradient(
  tf: Tf,
  x: Tensor4D,
  dy: Tensor4D,
  filterShape: number[],
  geometry: Geometry,
): Tensor {
  const [kernelH, kernelW, channels, multiplier] = filterShape;
  return tf.tidy(() => {
    const [batch, outHeight, outWidth] = dy.shape;
    const dyByChannel = tf.reshape(dy, [batch, outHeight, outWidth, channels, multiplier]);
    const taps = tapSlices(tf, x, dy.shape, [kernelH, kernelW], geometry);
    const gradients: Tensor[] = [];
    for (let i = 0; i < kernelH; i++) {
      for (let j = 0; j < kernelW; j++) {
        const tap = tf.expandDims(taps.slice(i, j), 4);
        gradients.push(tf.sum(tf.mul(tap, dyByChannel), [0, 1, 2]));
      }
    }
    return tf.reshape(tf.stack(gradients), [kernelH, kernelW, channels, multiplier]);
  });
}

/**
 * Sums per-tap input gradients into the input's shape. `tapGradient(i, j)` returns the gradient
 * that tap (i, j) sends back, shaped like the output. It lands at padded positions
 * (h * stride + i, w * stride + j), so it is spread out by the stride and shifted by the tap.
 */
function scatterTaps(
  tf: Tf,
  xShape: number[],
  outShape: number[],
  kernel: [number, number],
  geometry: Geometry,
  tapGradient: (i: number, j: number) => Tensor,
): Tensor {
  const [batch, inHeight, inWidth, channels] = xShape;
  const [, outHeight, outWidth] = outShape;
  const [strideH, strideW] = geometry.strides;
  const top = padBefore(geometry.pad, inHeight, outHeight, kernel[0], strideH, 1);
  const left = padBefore(geometry.pad, inWidth, outWidth, kernel[1], strideW, 2);
  const neededHeight = (outHeight - 1) * strideH + kernel[0];
  const neededWidth = (outWidth - 1) * strideW + kernel[1];
  const spanH = (outHeight - 1) * strideH + 1;
  const spanW = (outWidth - 1) * strideW + 1;

  let sum: Tensor | undefined;
  for (let i = 0; i < kernel[0]; i++) {
    for (let j = 0; j < kernel[1]; j++) {
      let spread = tapGradient(i, j);
      if (strideH > 1 || strideW > 1) {
        spread = tf.slice(
          tf.reshape(
            tf.pad(tf.reshape(spread, [batch, outHeight, 1, outWidth, 1, channels]), [
              [0, 0],
              [0, 0],
              [0, strideH - 1],
              [0, 0],
              [0, strideW - 1],
              [0, 0],
            ]),
            [batch, outHeight * strideH, outWidth * strideW, channels],
          ),
          [0, 0, 0, 0],
          [batch, spanH, spanW, channels],
        );
      }
      const placed = tf.pad(spread, [
        [0, 0],
        [i, neededHeight - i - spanH],
        [j, neededWidth - j - spanW],
        [0, 0],
      ]);
      sum = sum ? tf.add(sum, placed) : placed;
    }
  }

  // Crop the padding away; rows that no output read (VALID leftovers) get a zero gradient.
  const keptHeight = Math.min(inHeight, neededHeight - top);
  const keptWidth = Math.min(inWidth, neededWidth - left);
  const cropped = tf.slice(sum as Tensor4D, [0, top, left, 0], [batch, keptHeight, keptWidth, channels]);
  return tf.pad(cropped, [
    [0, 0],
    [0, inHeight - keptHeight],
    [0, inWidth - keptWidth],
    [0, 0],
  ]);
}

function conv2dInputGradient(
  tf: Tf,
  xShape: number[],
  dy: Tensor4D,
  filter: Tensor4D,
  geometry: Geometry,
): Tensor {
  const [kernelH, kernelW, inChannels, outChannels] = filter.shape;
  return tf.tidy(() => {
    const [batch, outHeight, outWidth] = dy.shape;
    const dyMatrix = tf.reshape(dy, [batch * outHeight * outWidth, outChannels]);
    // Transposed once: [kernelH, kernelW, outChannels, inChannels].
    const transposed = tf.transpose(filter, [0, 1, 3, 2]);
    return scatterTaps(tf, xShape, dy.shape, [kernelH, kernelW], geometry, (i, j) => {
      const weights = tf.reshape(tf.slice(transposed, [i, j, 0, 0], [1, 1, outChannels, inChannels]), [
        outChannels,
        inChannels,
      ]);
      return tf.reshape(tf.matMul(dyMatrix, weights), [batch, outHeight, outWidth, inChannels]);
    });
  });
}

function depthwiseInputGradient(
  tf: Tf,
  xShape: number[],
  dy: Tensor4D,
  filter: Tensor4D,
  geometry: Geometry,
): Tensor {
  const [kernelH, kernelW, channels, multiplier] = filter.shape;
  return tf.tidy(() => {
    const [batch, outHeight, outWidth] = dy.shape;
    const dyByChannel = tf.reshape(dy, [batch, outHeight, outWidth, channels, multiplier]);
    return scatterTaps(tf, xShape, dy.shape, [kernelH, kernelW], geometry, (i, j) => {
      const weights = tf.reshape(tf.slice(filter, [i, j, 0, 0], [1, 1, channels, multiplier]), [
        channels,
        multiplier,
      ]);
      return tf.sum(tf.mul(dyByChannel, weights), 4);
    });
  });
}
