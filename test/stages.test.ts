import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import sharp from 'sharp';
import { augmentCache } from '../activities/augment-cache';
import { download } from '../activities/download';
import { resize } from '../activities/resize';
import { split } from '../activities/split';
import { parseConfig } from '../lib/config';
import { decodeNpy } from '../lib/data/npy';
import { readShard, type ShardGroups } from '../lib/data/shards';
import type { StageInput, StageManifest, StageResult } from '../lib/pipeline';
import { openStore, readArtifact } from '../lib/store';
import { tempDir, writeFakeFashionMnist, writeImageFolder } from './helpers/data';

type Activity = (input: StageInput) => Promise<StageResult>;

async function runStage(
  activity: Activity,
  storeUri: string,
  params: unknown,
  inputs: Record<string, StageManifest> = {},
) {
  const environment = new MockActivityEnvironment({ attempt: 1 });
  return (await environment.run(activity, {
    pipeline: 'test',
    stage: activity.name,
    storeUri,
    params,
    inputs,
  })) as StageResult;
}

const config = (dataset: unknown, extra: Record<string, unknown> = {}) =>
  parseConfig({ dataset, baseModel: { uri: '/m/model.json', outputLayer: 'out_relu' }, ...extra });

test('download reads Fashion-MNIST classes by name', async () => {
  const source = tempDir();
  writeFakeFashionMnist(source, 6);
  const store = tempDir();
  const params = config({
    source: { type: 'fashion-mnist', path: source, subset: 'train' },
    classes: ['Coat', 'Trouser'],
    maxPerClass: 4,
  }).dataset;

  const result = await runStage(download, store, params);
  assert.equal(result.cached, false);
  assert.deepEqual(result.manifest.info.classNames, ['Coat', 'Trouser']);
  assert.equal(result.manifest.counts['class:Coat'], 4);
  assert.equal(result.manifest.counts.images, 8);
  const images = decodeNpy(await readArtifact(openStore(store), result.manifest.artifacts.images));
  const labels = decodeNpy(await readArtifact(openStore(store), result.manifest.artifacts.labels));
  assert.deepEqual(images.shape, [8, 28, 28, 1]);
  assert.deepEqual(Array.from(labels.data), [1, 0, 1, 0, 1, 0, 1, 0]);

  const again = await runStage(download, store, params);
  assert.equal(again.cached, true);
  assert.equal(again.manifest.cacheKey, result.manifest.cacheKey);
});

test('download cache key follows source data', async () => {
  const source = tempDir();
  writeFakeFashionMnist(source, 3);
  const store = tempDir();
  const params = config({
    source: { type: 'fashion-mnist', path: source, subset: 'train' },
    classes: ['Coat', 'Bag'],
  }).dataset;
  const first = await runStage(download, store, params);
  writeFakeFashionMnist(source, 4);
  const second = await runStage(download, store, params);
  assert.notEqual(second.manifest.cacheKey, first.manifest.cacheKey);
  assert.equal(second.cached, false);
  assert.equal(second.manifest.counts.images, 8);
});

test('download rejects missing source and unknown class', async () => {
  const store = tempDir();
  const missing = config({ source: { type: 'fashion-mnist', path: '/nonexistent/folder' } }).dataset;
  await assert.rejects(
    runStage(download, store, missing),
    (error: Error & { type?: string; nonRetryable?: boolean }) => {
      assert.match(
        error.message,
        /\/nonexistent\/folder\/.*is missing. Install Debian's dataset-fashion-mnist/,
      );
      assert.equal(error.type, 'InvalidInput');
      assert.equal(error.nonRetryable, true);
      return true;
    },
  );
  const source = tempDir();
  writeFakeFashionMnist(source, 2);
  const unknown = config({
    source: { type: 'fashion-mnist', path: source },
    classes: ['Coat', 'Hat'],
  }).dataset;
  await assert.rejects(runStage(download, store, unknown), /Class "Hat" is not a Fashion-MNIST class/);
});

test('download copies an image folder', async () => {
  const source = tempDir();
  await writeImageFolder(source, ['cats', 'dogs'], 4);
  await fs.writeFile(path.join(source, 'cats', 'Thumbs.db'), 'not an image');
  await fs.writeFile(path.join(source, 'dogs', '.hidden.jpg'), 'hidden');
  const store = tempDir();
  const result = await runStage(
    download,
    store,
    config({ source: { type: 'image-folder', path: source } }).dataset,
  );
  assert.deepEqual(result.manifest.info.classNames, ['cats', 'dogs']);
  assert.equal(result.manifest.counts.images, 8);
  assert.equal(result.manifest.counts.ignored, 2);
  const index = JSON.parse(
    (await readArtifact(openStore(store), result.manifest.artifacts.index)).toString(),
  ) as { source: string; label: number }[];
  assert.ok(index.some((entry) => entry.source === 'dogs/nested/img1.png' && entry.label === 1));

  await fs.mkdir(path.join(source, 'empty'));
  await assert.rejects(
    runStage(
      download,
      store,
      config({ source: { type: 'image-folder', path: source }, classes: ['cats', 'empty'] }).dataset,
    ),
    /Class folder .*empty has no images/,
  );
});

async function preparedDataset(perClass: number) {
  const source = tempDir();
  writeFakeFashionMnist(source, perClass);
  const store = tempDir();
  const dataset = await runStage(
    download,
    store,
    config({ source: { type: 'fashion-mnist', path: source, subset: 'train' }, classes: ['Coat', 'Bag'] })
      .dataset,
  );
  return { store, dataset: dataset.manifest };
}

test('split is stratified and seeded', async () => {
  const { store, dataset } = await preparedDataset(20);
  const params = { train: 50, validation: 25, test: 25, seed: 9 };
  const result = await runStage(split, store, params, { download: dataset });
  assert.deepEqual(
    [result.manifest.counts.train, result.manifest.counts.validation, result.manifest.counts.test],
    [20, 10, 10],
  );
  assert.equal(result.manifest.counts['train:Coat'], 10);
  assert.equal(result.manifest.counts['test:Bag'], 5);

  const assignment = JSON.parse(
    (await readArtifact(openStore(store), result.manifest.artifacts.split)).toString(),
  ) as Record<string, number[]>;
  const all = [...assignment.train, ...assignment.validation, ...assignment.test];
  assert.equal(new Set(all).size, all.length, 'splits overlap');

  const reseeded = await runStage(split, store, { ...params, seed: 10 }, { download: dataset });
  const other = JSON.parse(
    (await readArtifact(openStore(store), reseeded.manifest.artifacts.split)).toString(),
  ) as Record<string, number[]>;
  assert.notDeepEqual(other.train, assignment.train);

  await assert.rejects(
    runStage(split, store, { train: 50, validation: 1, test: 25, seed: 9 }, { download: dataset }),
    /too few for a 1% validation split/,
  );
});

test('resize stores RGB uint8 shards and skips corrupt files', async () => {
  const source = tempDir();
  await writeImageFolder(source, ['a', 'b'], 6);
  await fs.writeFile(path.join(source, 'a', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2, 3]));
  await sharp({
    create: { width: 20, height: 10, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } },
  })
    .png()
    .toFile(path.join(source, 'b', 'alpha.png'));
  await sharp({ create: { width: 12, height: 12, channels: 3, background: '#808080' } })
    .toColourspace('b-w')
    .png()
    .toFile(path.join(source, 'b', 'gray.png'));
  const store = tempDir();
  const dataset = (
    await runStage(download, store, config({ source: { type: 'image-folder', path: source } }).dataset)
  ).manifest;
  const splitManifest = (
    await runStage(split, store, { train: 50, validation: 25, test: 25, seed: 1 }, { download: dataset })
  ).manifest;
  const result = await runStage(
    resize,
    store,
    { height: 16, width: 24 },
    { download: dataset, split: splitManifest },
  );

  const skipped = result.manifest.info.skipped as { source: string; reason: string }[];
  const total =
    result.manifest.counts.train + result.manifest.counts.validation + result.manifest.counts.test;
  const assigned = splitManifest.counts.train + splitManifest.counts.validation + splitManifest.counts.test;
  assert.equal(total + skipped.length, assigned);
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0].source, 'a/broken.jpg');
  assert.equal(result.manifest.counts.skipped, 1);
  const groups = result.manifest.info.shards as ShardGroups;
  const batch = await readShard(openStore(store), groups.train[0], 'resize');
  assert.deepEqual(batch.shape.slice(1), [16, 24, 3]);
  assert.equal(batch.images.length, batch.shape[0] * 16 * 24 * 3);
});

test('augment-cache writes distinct copies', async () => {
  const { store, dataset } = await preparedDataset(8);
  const splitManifest = (
    await runStage(split, store, { train: 50, validation: 25, test: 25, seed: 1 }, { download: dataset })
  ).manifest;
  const resized = (
    await runStage(resize, store, { height: 32, width: 32 }, { download: dataset, split: splitManifest })
  ).manifest;
  const result = await runStage(
    augmentCache,
    store,
    { flip: 'horizontal', rotation: 0.1, copies: 2, seed: 5 },
    { resize: resized },
  );

  const groups = result.manifest.info.shards as ShardGroups;
  assert.deepEqual(Object.keys(groups).sort(), ['test', 'train-copy-0', 'train-copy-1', 'validation']);
  assert.deepEqual(
    groups.validation,
    (resized.info.shards as ShardGroups).validation,
    'validation must not be augmented',
  );
  const original = await readShard(openStore(store), (resized.info.shards as ShardGroups).train[0], 'resize');
  const copies = [
    await readShard(openStore(store), groups['train-copy-0'][0], 'augment-cache'),
    await readShard(openStore(store), groups['train-copy-1'][0], 'augment-cache'),
  ];
  const mean = (data: Uint8Array, image: number) => {
    const size = 32 * 32 * 3;
    return data.subarray(image * size, (image + 1) * size).reduce((a, b) => a + b, 0) / size;
  };
  for (const copy of copies) {
    assert.deepEqual(Array.from(copy.labels), Array.from(original.labels));
    for (let image = 0; image < original.shape[0]; image++) {
      // Rotation with reflected edges keeps about the same brightness; an all-black image would not.
      assert.ok(
        Math.abs(mean(copy.images, image) - mean(original.images, image)) < 40,
        `image ${image} lost its content`,
      );
    }
  }
  assert.notDeepEqual(copies[0].images, copies[1].images);
  assert.notDeepEqual(copies[0].images, original.images);
});
