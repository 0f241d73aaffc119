// Benchmark: validate and resize a generated image folder of mixed-size JPEGs (with some corrupt
// files) through the download, split and resize stages, and print images/s and peak memory.
// Run with: npm run benchmark:resize -- [image count, default 25000]
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import sharp from 'sharp';
import { download } from '../activities/download';
import { resize } from '../activities/resize';
import { split } from '../activities/split';
import type { StageInput, StageManifest, StageResult } from '../lib/pipeline';

async function generate(folder: string, count: number): Promise<void> {
  const base = await sharp({ create: { width: 500, height: 375, channels: 3, background: '#886644' } })
    .composite([
      {
        input: { create: { width: 120, height: 375, channels: 3, background: '#224488' } },
        left: 190,
        top: 0,
      },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
  for (const name of ['Cat', 'Dog']) await fs.mkdir(path.join(folder, name), { recursive: true });
  const batch = 64;
  for (let start = 0; start < count; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, async (_, offset) => {
        const i = start + offset;
        const file = path.join(folder, i % 2 === 0 ? 'Cat' : 'Dog', `${i}.jpg`);
        // About 7 % of the files are corrupt, as in the cats-vs-dogs archive (1,738 of 25,000).
        if (i % 14 === 3) return fs.writeFile(file, base.subarray(0, 200));
        const width = 160 + ((i * 37) % 340);
        const height = 120 + ((i * 53) % 260);
        return fs.writeFile(
          file,
          await sharp(base).resize(width, height, { fit: 'fill' }).jpeg({ quality: 80 }).toBuffer(),
        );
      }),
    );
  }
}

async function runStage(
  stage: (input: StageInput) => Promise<StageResult>,
  storeUri: string,
  params: unknown,
  inputs: Record<string, StageManifest>,
) {
  const result = (await new MockActivityEnvironment({ attempt: 1 }).run(stage, {
    pipeline: 'benchmark',
    stage: stage.name,
    storeUri,
    params,
    inputs,
  })) as StageResult;
  return result.manifest;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 25_000);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-resize-benchmark-'));
  const source = path.join(work, 'images');
  let started = Date.now();
  await generate(source, count);
  console.log(`Generated ${count} JPEGs in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const store = path.join(work, 'artifacts');
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  started = Date.now();
  const dataset = await runStage(download, store, { source: { type: 'image-folder', path: source } }, {});
  const downloadSeconds = (Date.now() - started) / 1000;
  const splitManifest = await runStage(
    split,
    store,
    { train: 80, validation: 10, test: 10, seed: 1 },
    { download: dataset },
  );
  started = Date.now();
  const resized = await runStage(
    resize,
    store,
    { height: 150, width: 150, fit: 'stretch' },
    { download: dataset, split: splitManifest },
  );
  const resizeSeconds = (Date.now() - started) / 1000;
  clearInterval(sampler);

  const total =
    resized.counts.train + resized.counts.validation + resized.counts.test + resized.counts.skipped;
  console.log(
    `Machine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim()}, Node ${process.version}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`,
  );
  console.log(
    `download (copy into the store): ${downloadSeconds.toFixed(1)} s, ${(count / downloadSeconds).toFixed(0)} files/s`,
  );
  console.log(
    `validate + resize to 150x150: ${resizeSeconds.toFixed(1)} s, ${(total / resizeSeconds).toFixed(0)} images/s`,
  );
  console.log(`kept ${total - resized.counts.skipped}, skipped ${resized.counts.skipped} as unreadable`);
  console.log(`peak RSS: ${(peak / 2 ** 20).toFixed(0)} MiB`);
  await fs.rm(work, { recursive: true, force: true });
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
