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

test('resize validates and converts image kinds', async () => {
  const source = tempDir();
  await fs.mkdir(path.join(source, 'good'));
  await fs.mkdir(path.join(source, 'bad'));
  const halves = (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: '#0000ff' } }).composite([
      {
        input: { create: { width: width / 2, height, channels: 3, background: '#ff0000' } },
        left: 0,
        top: 0,
      },
    ]);
  const jpeg = await halves(40, 20).jpeg().toBuffer();
  const write = (name: string, data: Buffer) => fs.writeFile(path.join(source, name), data);
  await write('good/cmyk.jpg', await halves(40, 20).toColourspace('cmyk').jpeg().toBuffer());
  await write('good/16bit.png', await halves(40, 20).toColourspace('rgb16').png().toBuffer());
  await write('good/palette.png', await halves(40, 20).png({ palette: true }).toBuffer());
  await write('good/gray.png', await halves(40, 20).toColourspace('b-w').png().toBuffer());
  await write('good/alpha.png', await halves(40, 20).ensureAlpha(0.5).png().toBuffer());
  // Orientation 6 displays the image turned 90 degrees clockwise, so its left (red) half ends up on top.
  await write('good/rotated.jpg', await halves(40, 20).jpeg().withMetadata({ orientation: 6 }).toBuffer());
  await write('bad/truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await write('bad/empty.jpg', Buffer.alloc(0));
  await write('bad/text.jpg', Buffer.from('this is not an image'));
  await write(
    'bad/bomb.png',
    await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#000000' } })
      .png()
      .toBuffer(),
  );
  // Eight files per class, so that a 50/25/25 split assigns every file.
  for (const name of [
    'good/plain1.jpg',
    'good/plain2.jpg',
    'bad/fine1.jpg',
    'bad/fine2.jpg',
    'bad/fine3.jpg',
    'bad/fine4.jpg',
  ]) {
    await write(name, jpeg);
  }

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
    { height: 8, width: 8, fit: 'stretch' },
    { download: dataset, split: splitManifest },
  );

  const skipped = Object.fromEntries(
    (result.manifest.info.skipped as { source: string; reason: string }[]).map((s) => [s.source, s.reason]),
  );
  assert.deepEqual(Object.keys(skipped).sort(), [
    'bad/bomb.png',
    'bad/empty.jpg',
    'bad/text.jpg',
    'bad/truncated.jpg',
  ]);
  assert.match(skipped['bad/bomb.png'], /pixel limit/i);
  assert.match(skipped['bad/truncated.jpg'], /premature end|truncated/i);
  assert.equal(result.manifest.counts.skipped, 4);

  // Every kept image decodes to 8x8 RGB with a red half and a blue half, whatever its format.
  const groups = result.manifest.info.shards as ShardGroups;
  const index = JSON.parse((await readArtifact(openStore(store), dataset.artifacts.index)).toString()) as {
    source: string;
  }[];
  const assignment = JSON.parse(
    (await readArtifact(openStore(store), splitManifest.artifacts.split)).toString(),
  ) as Record<string, number[]>;
  const checked: string[] = [];
  for (const name of ['train', 'validation', 'test']) {
    const batch = await readShard(openStore(store), groups[name][0], 'resize');
    const kept = assignment[name].filter((i) => !(index[i].source in skipped));
    kept.forEach((i, n) => {
      const pixel = (x: number, y: number) =>
        Array.from(batch.images.subarray((n * 64 + y * 8 + x) * 3, (n * 64 + y * 8 + x) * 3 + 3));
      const red = (p: number[]) => p[0] > 150 && p[2] < 100;
      const source = index[i].source;
      if (source === 'good/rotated.jpg') {
        assert.ok(red(pixel(7, 0)), `${source}: EXIF orientation not applied, top right is ${pixel(7, 0)}`);
        assert.ok(!red(pixel(0, 7)), `${source}: bottom left should be blue`);
      } else if (source !== 'good/gray.png') {
        assert.ok(red(pixel(0, 4)), `${source}: left should be red, is ${pixel(0, 4)}`);
        assert.ok(!red(pixel(7, 4)), `${source}: right should be blue, is ${pixel(7, 4)}`);
      } else {
        assert.equal(pixel(0, 4)[0], pixel(0, 4)[2], 'grayscale becomes equal RGB channels');
      }
      checked.push(source);
    });
  }
  const kept = result.manifest.counts.train + result.manifest.counts.validation + result.manifest.counts.test;
  assert.equal(checked.length, kept);
  for (const name of ['cmyk.jpg', '16bit.png', 'palette.png', 'gray.png', 'alpha.png', 'rotated.jpg']) {
    assert.ok(checked.includes(`good/${name}`), `good/${name} was not kept`);
  }
});

test('resize aspect ratio policies', async () => {
  const source = tempDir();
  for (const name of ['a', 'b']) {
    await fs.mkdir(path.join(source, name));
    for (let i = 0; i < 4; i++) {
      await sharp({ create: { width: 40, height: 20, channels: 3, background: '#ffffff' } })
        .png()
        .toFile(path.join(source, name, `${i}.png`));
    }
  }
  const store = tempDir();
  const dataset = (
    await runStage(download, store, config({ source: { type: 'image-folder', path: source } }).dataset)
  ).manifest;
  const splitManifest = (
    await runStage(split, store, { train: 50, validation: 25, test: 25, seed: 1 }, { download: dataset })
  ).manifest;
  const topLeft = async (fit: string) => {
    const result = await runStage(
      resize,
      store,
      { height: 8, width: 8, fit },
      { download: dataset, split: splitManifest },
    );
    const batch = await readShard(
      openStore(store),
      (result.manifest.info.shards as ShardGroups).train[0],
      'resize',
    );
    return Array.from(batch.images.subarray(0, 3));
  };
  assert.deepEqual(await topLeft('stretch'), [255, 255, 255]);
  assert.deepEqual(await topLeft('crop'), [255, 255, 255]);
  assert.deepEqual(await topLeft('pad'), [0, 0, 0], 'pad letterboxes a wide image with black rows');
});

test('resize fan-out gives same shards', async () => {
  const params = { height: 16, width: 16, fit: 'stretch' };
  const splitParams = { train: 50, validation: 25, test: 25, seed: 2 };
  const digests = (manifest: StageManifest) =>
    Object.fromEntries(Object.entries(manifest.artifacts).map(([key, artifact]) => [key, artifact.sha256]));

  const reference = await preparedDataset(30);
  const referenceSplit = (
    await runStage(split, reference.store, splitParams, { download: reference.dataset })
  ).manifest;
  const whole = (
    await runStage(resize, reference.store, params, { download: reference.dataset, split: referenceSplit })
  ).manifest;

  for (const count of [2, 3]) {
    // A separate store with the same data, so that the merge cannot find the unsharded manifest.
    const { store, dataset } = await preparedDataset(30);
    const inputs = {
      download: dataset,
      split: (await runStage(split, store, splitParams, { download: dataset })).manifest,
    };
    const environment = new MockActivityEnvironment({ attempt: 1 });
    const run = (extra: Partial<StageInput>) =>
      environment.run(resize, {
        pipeline: 'test',
        stage: 'resize',
        storeUri: store,
        params,
        inputs,
        ...extra,
      }) as Promise<StageResult>;
    const parts = await Promise.all(
      Array.from({ length: count }, (_, index) => run({ shard: { index, count } })),
    );
    assert.ok(
      parts.every((part) => part.manifest.cacheKey !== whole.cacheKey),
      'parts cache under their own keys',
    );
    const merged = await run({ parts: parts.map((part) => part.manifest) });
    assert.equal(merged.cached, false);
    assert.equal(merged.manifest.cacheKey, whole.cacheKey);
    assert.deepEqual(digests(merged.manifest), digests(whole));
    assert.deepEqual(merged.manifest.counts, whole.counts);
  }
});

test('augment-cache fan-out gives same copies', async () => {
  const digests = (manifest: StageManifest) =>
    Object.fromEntries(Object.entries(manifest.artifacts).map(([key, artifact]) => [key, artifact.sha256]));
  const params = { flip: 'horizontal', rotation: 0.1, copies: 2, seed: 5 };
  const prepare = async () => {
    const { store, dataset } = await preparedDataset(8);
    const splitManifest = (
      await runStage(split, store, { train: 50, validation: 25, test: 25, seed: 1 }, { download: dataset })
    ).manifest;
    const resized = (
      await runStage(resize, store, { height: 16, width: 16 }, { download: dataset, split: splitManifest })
    ).manifest;
    return { store, inputs: { resize: resized } };
  };

  const reference = await prepare();
  const whole = (await runStage(augmentCache, reference.store, params, reference.inputs)).manifest;

  const { store, inputs } = await prepare();
  const environment = new MockActivityEnvironment({ attempt: 1 });
  const run = (extra: Partial<StageInput>) =>
    environment.run(augmentCache, {
      pipeline: 'test',
      stage: 'augment-cache',
      storeUri: store,
      params,
      inputs,
      ...extra,
    }) as Promise<StageResult>;
  const parts = await Promise.all([0, 1].map((index) => run({ shard: { index, count: 2 } })));
  const merged = await run({ parts: parts.map((part) => part.manifest) });
  assert.equal(merged.cached, false);
  assert.deepEqual(digests(merged.manifest), digests(whole));
});

test('download reads MNIST digits by name', async () => {
  const source = tempDir();
  writeFakeFashionMnist(source, 3);
  const store = tempDir();
  const params = config({
    source: { type: 'mnist', path: source, subset: 'train' },
    classes: ['3', '7'],
  }).dataset;
  const result = await runStage(download, store, params);
  assert.deepEqual(result.manifest.info.classNames, ['3', '7']);
  assert.equal(result.manifest.counts['class:7'], 3);
  await assert.rejects(
    runStage(
      download,
      store,
      config({ source: { type: 'mnist', path: source }, classes: ['3', 'seven'] }).dataset,
    ),
    /Class "seven" is not an MNIST class/,
  );
  await assert.rejects(
    runStage(download, store, config({ source: { type: 'mnist', path: '/nonexistent/mnist' } }).dataset),
    /MNIST file \/nonexistent\/mnist\/.* is missing/,
  );
});
