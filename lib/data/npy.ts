/**
 * Reader and writer for NumPy's .npy format (version 1.0), so that shards and cached features can
 * be opened with `numpy.load` as well as by retrain.
 */

export type NpyDtype = 'uint8' | 'int32' | 'float32';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Uint8Array | Int32Array | Float32Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
const DESCR: Record<NpyDtype, string> = { uint8: '|u1', int32: '<i4', float32: '<f4' };

export function encodeNpy(array: NpyArray): Buffer {
  const expected = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== expected) {
    throw new Error(
      `Cannot encode .npy: shape [${array.shape}] needs ${expected} values, got ${array.data.length}.`,
    );
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[array.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // The header is padded with spaces so that the data starts on a 64-byte boundary, as NumPy does.
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

export function decodeNpy(buffer: Buffer): NpyArray {
  if (buffer.length < 10 || !buffer.subarray(0, 6).equals(MAGIC)) {
    throw new Error('Invalid .npy data: the magic string is missing.');
  }
  const major = buffer[6];
  const headerLength = major === 1 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buffer.subarray(headerStart, headerStart + headerLength).toString('latin1');

  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((key) => DESCR[key] === descr);
  if (!dtype || fortran !== 'False' || shapeText === undefined) {
    throw new Error(
      `Unsupported .npy header ${header.trim()}: expected C order and one of ${Object.values(DESCR)}.`,
    );
  }
  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(Number);

  // Copy the body so that typed arrays start at an aligned offset whatever the buffer's pool offset.
  const body = Uint8Array.prototype.slice.call(buffer.subarray(headerStart + headerLength));
  const data =
    dtype === 'uint8'
      ? body
      : dtype === 'int32'
        ? new Int32Array(body.buffer)
        : new Float32Array(body.buffer);
  const expected = shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new Error(`Invalid .npy data: shape [${shape}] needs ${expected} values, found ${data.length}.`);
  }
  return { dtype, shape, data };
}
