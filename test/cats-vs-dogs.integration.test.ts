import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { startRun } from '../lib/client';
import { loadConfigFile } from '../lib/config';
import { sha256 } from '../lib/digest';
import type { PipelineRunResult } from '../lib/pipeline';
import { writeArchive } from './helpers/archives';
import { tempDir } from './helpers/data';
import { startTestPipeline } from './helpers/temporal';

const example = path.resolve(__dirname, '..', '..', 'examples', 'cats-vs-dogs.yaml');

/** Writes a small stand-in for Microsoft's cats-vs-dogs zip: PetImages/Cat and PetImages/Dog, with junk. */
async function petImagesArchive(file: string, perClass: number): Promise<void> {
  const entries: { name: string; data?: Buffer }[] = [];
  for (const [label, name] of ['Cat', 'Dog'].entries()) {
    for (let i = 0; i < perClass; i++) {
      const width = 120 + ((i * 37) % 200);
      const height = 100 + ((i * 53) % 180);
      const background = label === 0 ? { r: 200, g: 90 + i, b: 40 } : { r: 40, g: 90 + i, b: 200 };
      const stripe = {
        create: {
          width: Math.floor(width / 4),
          height,
          channels: 3 as const,
          background: label === 0 ? '#ffffff' : '#000000',
        },
      };
      const data = await sharp({ create: { width, height, channels: 3, background } })
        .composite([{ input: stripe, left: label === 0 ? 0 : width - Math.floor(width / 4), top: 0 }])
        .jpeg()
        .toBuffer();
      entries.push({ name: `PetImages/${name}/${i}.jpg`, data });
    }
  }
  const good = entries[0].data as Buffer;
  entries.push({ name: 'PetImages/Cat/666.jpg', data: good.subarray(0, Math.floor(good.length / 3)) });
  entries.push({ name: 'PetImages/Dog/11702.jpg', data: Buffer.alloc(0) });
  entries.push({ name: 'PetImages/Dog/notes.jpg', data: Buffer.from('not a JPEG at all') });
  entries.push({ name: 'PetImages/Cat/Thumbs.db', data: Buffer.from('thumbnail cache') });
  writeArchive(file, entries);
}

test('cats-vs-dogs example runs end to end', async () => {
  const folder = tempDir();
  const archive = path.join(folder, 'kagglecatsanddogs.zip');
  await petImagesArchive(archive, 20);
  const body = readFileSync(archive);
  const http_ = http.createServer((request, response) => {
    if (request.url !== '/kagglecatsanddogs.zip') return void response.writeHead(404).end();
    response.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => http_.listen(0, '127.0.0.1', resolve));
  process.env.RETRAIN_DOWNLOAD_DIR = tempDir('retrain-downloads-');

  const pipeline = await startTestPipeline();
  const { client } = pipeline;
  try {
    const config = await loadConfigFile(example);
    assert.deepEqual([config.split.train, config.split.validation, config.split.test], [40, 10, 10]);
    assert.deepEqual([config.image.height, config.image.width], [150, 150]);
    const url = `http://127.0.0.1:${(http_.address() as AddressInfo).port}/kagglecatsanddogs.zip`;
    const workflowId = await startRun(client, {
      ...config,
      store: path.join(folder, 'artifacts'),
      dataset: {
        ...config.dataset,
        source: { type: 'archive', url, sha256: sha256(body), root: 'PetImages' },
      },
      split: { ...config.split, train: 50, validation: 25, test: 25 },
    });
    const result = (await client.workflow.getHandle(workflowId).result()) as PipelineRunResult;

    const downloaded = result.stages.download.manifest;
    assert.deepEqual(downloaded.info.classNames, ['Cat', 'Dog']);
    assert.deepEqual(downloaded.info.ignored, ['Cat/Thumbs.db']);
    assert.equal(downloaded.info.archiveSha256, sha256(body));

    const resized = result.stages.resize.manifest;
    const skipped = (resized.info.skipped as { source: string; reason: string }[])
      .map((file) => file.source)
      .sort();
    const assigned = result.stages.split.manifest.counts;
    const expectedSkips = ['Cat/666.jpg', 'Dog/11702.jpg', 'Dog/notes.jpg'];
    assert.equal(
      resized.counts.train + resized.counts.validation + resized.counts.test + skipped.length,
      assigned.train + assigned.validation + assigned.test,
    );
    assert.ok(
      skipped.every((file) => expectedSkips.includes(file)),
      `unexpected skips: ${skipped}`,
    );

    const metrics = result.stages.evaluate.manifest.metrics;
    assert.ok(metrics.accuracy >= 0, `accuracy ${metrics.accuracy}`);
    assert.ok(metrics.accuracy <= 1, `accuracy ${metrics.accuracy}`);
    assert.equal(result.stages['fine-tune'].manifest.info.backend, 'tensorflow');
  } finally {
    await pipeline.stop();
    http_.close();
  }
});
