import { promises as fs } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** An IDX file's contents: the format MNIST and Fashion-MNIST ship in. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/**
 * Reads an IDX file of unsigned bytes, gzip-compressed or not.
 *
 * @throws Error if the magic number is not that of a ubyte IDX file or the data is truncated.
 */
export async function readIdx(file: string): Promise<IdxArray> {
  let buffer = await fs.readFile(file);
  if (buffer[0] === 0x1f && buffer[1] === 0x8b) buffer = gunzipSync(buffer);

  if (buffer.length < 4 || buffer[0] !== 0 || buffer[1] !== 0 || buffer[2] !== 0x08) {
    throw new Error(`${file} is not an IDX file of unsigned bytes (magic 0x0000 08 nn).`);
  }
  const dimensions = buffer[3];
  const shape: number[] = [];
  for (let i = 0; i < dimensions; i++) shape.push(buffer.readUInt32BE(4 + 4 * i));

  const offset = 4 + 4 * dimensions;
  const size = shape.reduce((a, b) => a * b, 1);
  if (buffer.length - offset < size) {
    throw new Error(
      `${file} is truncated: shape [${shape}] needs ${size} bytes, found ${buffer.length - offset}.`,
    );
  }
  return { shape, data: new Uint8Array(buffer.buffer, buffer.byteOffset + offset, size) };
}
