import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadConfigFile, parseConfig } from '../lib/config';
import { InvalidInputError } from '../lib/errors';
import { tempDir } from './helpers/data';

const minimal = {
  dataset: { source: { type: 'fashion-mnist' }, classes: ['Shirt', 'Coat'] },
  baseModel: { uri: 'models/model.json', outputLayer: 'out_relu' },
};

test('config defaults follow the Keras guide', () => {
  const config = parseConfig(minimal, 'test', '/base');
  assert.deepEqual([config.split.train, config.split.validation, config.split.test], [40, 10, 10]);
  assert.equal(config.augment.rotation, 0.1);
  assert.equal(config.head.dropout, 0.2);
  assert.equal(config.fineTune.learningRate, 1e-5);
  assert.equal(config.baseModel.preprocessing.scale, 1 / 255);
});

test('config resolves relative paths against its folder', () => {
  const config = parseConfig(minimal, 'test', '/base');
  assert.equal(config.baseModel.uri, '/base/models/model.json');
  assert.equal(config.store, '/base/.retrain/artifacts');
  assert.equal((config.dataset.source as { path: string }).path, '/usr/share/datasets/fashion-mnist');
  const remote = parseConfig(
    { ...minimal, baseModel: { uri: 'http://127.0.0.1:9/model.json', outputLayer: 'x' } },
    'test',
    '/base',
  );
  assert.equal(remote.baseModel.uri, 'http://127.0.0.1:9/model.json');
});

test('config errors name field path and expectation', () => {
  const invalid = {
    ...minimal,
    split: { train: 80, validation: 30, test: 10 },
    head: { epochs: 0 },
    extra: true,
  };
  assert.throws(
    () => parseConfig(invalid, 'configuration file bad.yaml'),
    (error: Error) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, /^Invalid configuration file bad\.yaml:/);
      assert.match(error.message, /split: train \+ validation \+ test must not exceed 100 percent/);
      assert.match(error.message, /head\.epochs: .*>0/);
      assert.match(error.message, /\(top level\): Unrecognized key.*"extra"/);
      return true;
    },
  );
});

test('config rejects unknown source type', () => {
  assert.throws(
    () => parseConfig({ ...minimal, dataset: { source: { type: 'csv' } } }),
    /dataset\.source\.type/,
  );
});

test('config file loads YAML and reports syntax errors', async () => {
  const folder = tempDir();
  const good = path.join(folder, 'good.yaml');
  await fs.writeFile(
    good,
    'dataset:\n  source: {type: fashion-mnist}\nbaseModel: {uri: m/model.json, outputLayer: out_relu}\n',
  );
  assert.equal((await loadConfigFile(good)).baseModel.uri, path.join(folder, 'm/model.json'));
  const bad = path.join(folder, 'bad.yaml');
  await fs.writeFile(bad, 'dataset: [unclosed\n');
  await assert.rejects(loadConfigFile(bad), /is not valid YAML or JSON/);
  await assert.rejects(loadConfigFile(path.join(folder, 'missing.yaml')), /Cannot read configuration file/);
});
