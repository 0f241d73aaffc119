import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeNpy, encodeNpy } from '../lib/data/npy';

test('npy round trip keeps dtype, shape and values', () => {
  for (const array of [
    { dtype: 'uint8' as const, shape: [2, 3, 1], data: Uint8Array.from([0, 1, 2, 253, 254, 255]) },
    { dtype: 'int32' as const, shape: [3], data: Int32Array.from([-1, 0, 7]) },
    { dtype: 'float32' as const, shape: [2, 2], data: Float32Array.from([0.5, -2, 3.25, 1e-7]) },
  ]) {
    const decoded = decodeNpy(encodeNpy(array));
    assert.equal(decoded.dtype, array.dtype);
    assert.deepEqual(decoded.shape, array.shape);
    assert.deepEqual(Array.from(decoded.data), Array.from(array.data));
  }
});

test('npy header aligns data to 64 bytes', () => {
  const encoded = encodeNpy({ dtype: 'float32', shape: [5], data: new Float32Array(5) });
  const headerLength = encoded.readUInt16LE(8);
  assert.equal((10 + headerLength) % 64, 0);
  assert.match(
    encoded.subarray(10, 10 + headerLength).toString('latin1'),
    /'descr': '<f4', 'fortran_order': False, 'shape': \(5,\)/,
  );
});

test('npy decode rejects wrong magic and short data', () => {
  assert.throws(() => decodeNpy(Buffer.from('not numpy at all')), /magic string is missing/);
  const encoded = encodeNpy({ dtype: 'uint8', shape: [4], data: new Uint8Array(4) });
  assert.throws(
    () => decodeNpy(encoded.subarray(0, encoded.length - 1)),
    /shape \[4\] needs 4 values, found 3/,
  );
});

test('npy encode rejects shape and data mismatch', () => {
  assert.throws(
    () => encodeNpy({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) }),
    /needs 4 values, got 3/,
  );
});
