import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';

export function tempDir(prefix = 'retrain-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Encodes a ubyte IDX file, as MNIST ships them. */
export function idxFile(shape: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  return gzipSync(Buffer.concat([header, Buffer.from(data)]));
}

/**
 * Writes a small Fashion-MNIST-shaped dataset: 28x28 grayscale images whose brightness pattern
 * depends on the label, so that classes are learnable.
 */
export function writeFakeFashionMnist(folder: string, perClass: number, classes = 10): void {
  for (const [prefix, count] of [
    ['train', perClass],
    ['t10k', Math.max(1, Math.floor(perClass / 5))],
  ] as const) {
    const n = count * classes;
    const images = new Uint8Array(n * 28 * 28);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const label = i % classes;
      labels[i] = label;
      for (let p = 0; p < 28 * 28; p++) {
        const row = Math.floor(p / 28);
        images[i * 784 + p] = (row + label * 3) % 28 < 14 ? 200 + ((i * 7 + p) % 40) : (p * 13 + i) % 30;
      }
    }
    writeFileSync(path.join(folder, `${prefix}-images-idx3-ubyte.gz`), idxFile([n, 28, 28], images));
    writeFileSync(path.join(folder, `${prefix}-labels-idx1-ubyte.gz`), idxFile([n], labels));
  }
}

/** Writes an image folder with one subfolder per class of small JPEG and PNG files. */
export async function writeImageFolder(folder: string, classes: string[], perClass: number): Promise<void> {
  for (const [label, name] of classes.entries()) {
    mkdirSync(path.join(folder, name, 'nested'), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const color = label === 0 ? { r: 220, g: 40 + i, b: 40 } : { r: 40, g: 60 + i, b: 220 };
      const image = sharp({ create: { width: 40 + i, height: 30, channels: 3, background: color } });
      const file =
        i % 2 === 0
          ? path.join(folder, name, `img${i}.jpg`)
          : path.join(folder, name, 'nested', `img${i}.png`);
      await (i % 2 === 0 ? image.jpeg() : image.png()).toFile(file);
    }
  }
}
