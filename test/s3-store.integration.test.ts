import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { startRun } from '../lib/client';
import { parseConfig } from '../lib/config';
import { sha256 } from '../lib/digest';
import { InvalidInputError } from '../lib/errors';
import type { PipelineRunResult, StageResult } from '../lib/pipeline';
import { MockActivityEnvironment } from '@temporalio/testing';
import { download } from '../activities/download';
import { openStore, readArtifact } from '../lib/store';
import { selectBackend } from '../lib/tf/backend';
import { loadLayersModel } from '../lib/tf/model-io';
import { formatS3Uri } from '../lib/store/s3-store';
import { findVersitygw } from '../infra/s3-server';
import { freePort } from '../infra/temporal-server';
import { installWorkerLogger } from '../workers/logging';
import { tempDir, writeImageFolder } from './helpers/data';
import { MOBILENET_V2 } from './helpers/model';
import { startTestS3, TEST_ACCESS_KEY, TEST_SECRET_KEY } from './helpers/s3';
import { startTestPipeline } from './helpers/temporal';

let s3: Awaited<ReturnType<typeof startTestS3>>;
const uri = (prefix: string, settings: Record<string, string | boolean> = {}) =>
  formatS3Uri(`s3://${s3.bucket}/${prefix}`, {
    endpoint: s3.endpoint,
    checksum: 'when_required',
    ...settings,
  });

before(async () => {
  s3 = await startTestS3();
});

after(async () => {
  await s3.stop();
});

test('s3 store round trips objects', async () => {
  const store = openStore(uri('round-trip'));
  assert.equal(store.root, `s3://${s3.bucket}/round-trip`);
  const artifact = await store.put('a/b.bin', Buffer.from('hello'));
  assert.deepEqual(artifact, {
    uri: `s3://${s3.bucket}/round-trip/a/b.bin`,
    sha256: sha256('hello'),
    bytes: 5,
  });
  assert.equal(store.keyOf(artifact.uri), 'a/b.bin');
  assert.equal((await store.get('a/b.bin'))?.toString(), 'hello');
  assert.equal(await store.get('a/missing'), undefined);
  assert.equal(await store.exists('a/b.bin'), true);
  assert.equal(await store.exists('a/missing'), false);
  await store.put('a/c.bin', Buffer.from('x'));
  assert.deepEqual(await store.list('a/'), ['a/b.bin', 'a/c.bin']);
  assert.equal((await readArtifact(store, artifact, 'test')).toString(), 'hello');
});

test('s3 multipart upload round trips', async () => {
  const store = openStore(uri('multipart'));
  const data = randomBytes(19 * 1024 * 1024);
  const artifact = await store.put('big.bin', data);
  assert.equal(artifact.bytes, data.length);
  const back = await store.get('big.bin');
  assert.equal(sha256(back as Buffer), sha256(data));
});

test('s3 putIfAbsent keeps first writer', async () => {
  const store = openStore(uri('commit'));
  assert.equal(await store.putIfAbsent('manifest.json', Buffer.from('first')), true);
  assert.equal(await store.putIfAbsent('manifest.json', Buffer.from('late')), false);
  assert.equal((await store.get('manifest.json'))?.toString(), 'first');

  // NOTE: versitygw 1.7.0 checks If-None-Match before it writes, so simultaneous writers can all
  // succeed there. Each writer's manifest points at its own attempt's complete artifacts, so the
  // object that stays is always one whole manifest, which is what this checks.
  const writers = Array.from({ length: 6 }, (_, i) => `writer ${i}`);
  const results = await Promise.all(writers.map((text) => store.putIfAbsent('race.json', Buffer.from(text))));
  assert.ok(results.some(Boolean));
  const stored = (await store.get('race.json'))?.toString() as string;
  assert.ok(writers.includes(stored), `stored manifest ${stored} is not one writer's`);
  assert.equal(results[writers.indexOf(stored)], true);
});

test('s3 errors name bucket and fix', async () => {
  await assert.rejects(
    openStore(formatS3Uri('s3://no-such-bucket/x', { endpoint: s3.endpoint })).get('k'),
    (error: Error) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, /bucket no-such-bucket at http:\/\/127\.0\.0\.1:\d+ does not exist/);
      return true;
    },
  );

  const closed = `http://127.0.0.1:${await freePort()}`;
  await assert.rejects(
    openStore(formatS3Uri(`s3://${s3.bucket}/x`, { endpoint: closed })).put('k', Buffer.from('v')),
    (error: Error) => {
      assert.ok(
        !(error instanceof InvalidInputError),
        'an unreachable endpoint may come back, so it stays retryable',
      );
      assert.match(error.message, new RegExp(`Cannot reach the bucket ${s3.bucket} at ${closed}`));
      return true;
    },
  );

  process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret';
  try {
    await assert.rejects(openStore(uri('creds')).get('k'), (error: Error) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(
        error.message,
        /rejected the credentials .*Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
      );
      assert.doesNotMatch(error.message, /wrong-secret/);
      return true;
    });
  } finally {
    process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_KEY;
  }

  execFileSync(findVersitygw(), [
    'admin',
    '--access',
    TEST_ACCESS_KEY,
    '--secret',
    TEST_SECRET_KEY,
    '--endpoint-url',
    s3.adminEndpoint as string,
    'create-user',
    '--access',
    'reader',
    '--secret',
    'reader-secret-value',
    '--role',
    'user',
  ]);
  process.env.AWS_ACCESS_KEY_ID = 'reader';
  process.env.AWS_SECRET_ACCESS_KEY = 'reader-secret-value';
  try {
    await assert.rejects(openStore(uri('denied')).get('k'), (error: Error) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, /Access to s3:\/\/retrain-test\/denied\/k .* was denied/);
      return true;
    });
  } finally {
    process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_KEY;
  }
});

test('base model loads from s3', async () => {
  const store = openStore(uri('models/mobilenet_v2'));
  const folder = path.dirname(MOBILENET_V2);
  await store.put('model.json', readFileSync(path.join(folder, 'model.json')));
  await store.put('group1-shard1of1.bin', readFileSync(path.join(folder, 'group1-shard1of1.bin')));
  const { tf } = await selectBackend('inference', 'auto');
  const base = await loadLayersModel(tf, store.uriOf('model.json') + new URL(uri('x')).search, {
    inputSize: [64, 64],
    outputLayer: 'out_relu',
  });
  assert.deepEqual(base.outputs[0].shape, [null, 2, 2, 1280]);
  await assert.rejects(
    loadLayersModel(tf, `${store.uriOf('missing.json')}${new URL(uri('x')).search}`),
    (error: Error) =>
      error instanceof InvalidInputError && /missing\.json does not exist/.test(error.message),
  );
});

test('image folder dataset reads from s3', async () => {
  const local = tempDir();
  await writeImageFolder(local, ['cats', 'dogs'], 3);
  const source = openStore(uri('datasets/pets'));
  for (const file of [
    'cats/img0.jpg',
    'cats/nested/img1.png',
    'cats/img2.jpg',
    'dogs/img0.jpg',
    'dogs/nested/img1.png',
    'dogs/img2.jpg',
  ]) {
    await source.put(file, readFileSync(path.join(local, file)));
  }
  await source.put('dogs/Thumbs.db', Buffer.from('not an image'));

  const environment = new MockActivityEnvironment({ attempt: 1 });
  const params = parseConfig({
    dataset: { source: { type: 'image-folder', path: `s3://${s3.bucket}/datasets/pets` } },
    s3: { endpoint: s3.endpoint },
    baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
  }).dataset;
  const result = (await environment.run(download, {
    pipeline: 'test',
    stage: 'download',
    storeUri: tempDir(),
    params,
    inputs: {},
  })) as StageResult;
  assert.deepEqual(result.manifest.info.classNames, ['cats', 'dogs']);
  assert.equal(result.manifest.counts.images, 6);
  assert.equal(result.manifest.counts.ignored, 1);
  assert.deepEqual(result.manifest.info.ignored, ['dogs/Thumbs.db']);
});

test('server stop mid-upload commits nothing', async () => {
  const store = openStore(uri('interrupted'));
  const upload = store.put('large.bin', randomBytes(64 * 1024 * 1024));
  await new Promise((resolve) => setTimeout(resolve, 150));
  await s3.restart();
  const outcome = await upload.then(
    () => 'completed',
    () => 'failed',
  );
  const stored = await store.get('large.bin');
  if (outcome === 'failed') assert.equal(stored, undefined, 'a failed upload left an object behind');
  else assert.equal(stored?.length, 64 * 1024 * 1024, 'a completed upload must be whole');
  assert.deepEqual(await store.list('large'), outcome === 'failed' ? [] : ['large.bin']);
});

test('pipeline runs on s3 store', async () => {
  const logFile = path.join(tempDir(), 'worker.log');
  installWorkerLogger(logFile);
  const pipeline = await startTestPipeline();
  const { client } = pipeline;
  try {
    const config = parseConfig({
      name: 's3-run',
      store: `s3://${s3.bucket}/runs`,
      s3: { endpoint: s3.endpoint },
      dataset: {
        source: { type: 'fashion-mnist', subset: 'test' },
        classes: ['Trouser', 'Bag'],
        maxPerClass: 20,
      },
      split: { train: 50, validation: 25, test: 25 },
      image: { height: 32, width: 32 },
      augment: { copies: 1 },
      baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
      head: { epochs: 1 },
      fineTune: { epochs: 1, fromLayer: 'block_16_expand' },
      baseline: { enabled: false },
    });
    const workflowId = await startRun(client, config);
    const handle = client.workflow.getHandle(workflowId);
    const result = (await handle.result()) as PipelineRunResult;
    const report = result.stages.evaluate.manifest.artifacts['report.md'];
    assert.match(report.uri, new RegExp(`^s3://${s3.bucket}/runs/stages/evaluate/`));

    const store = openStore(config.store);
    const keys = await store.list('stages/');
    for (const stage of [
      'download',
      'split',
      'resize',
      'augment-cache',
      'train-head',
      'fine-tune',
      'evaluate',
    ]) {
      assert.ok(
        keys.includes(`stages/${stage}/${result.stages[stage].manifest.cacheKey}/manifest.json`),
        `${stage} manifest missing`,
      );
    }
    assert.match((await readArtifact(store, report, 'evaluate')).toString(), /test-set evaluation/);

    const history = JSON.stringify(await handle.fetchHistory());
    const log = readFileSync(logFile, 'utf8');
    for (const secret of [TEST_SECRET_KEY, TEST_ACCESS_KEY]) {
      assert.equal(history.includes(secret), false, 'a credential reached the workflow history');
      assert.equal(log.includes(secret), false, 'a credential reached the worker log');
    }
  } finally {
    await pipeline.stop();
  }
});
