import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers/data';

const cli = path.resolve(__dirname, '..', '..', 'bin', 'retrain.js');

test('run rejects invalid config before starting', async () => {
  const file = path.join(tempDir(), 'bad.yaml');
  await fs.writeFile(
    file,
    'dataset:\n  source: {type: fashion-mnist}\n  classes: [Shirt]\nbaseModel: {uri: m.json}\nimage: {height: 0}\n',
  );
  // The address points at a closed port: validation must fail before any connection is tried.
  const result = spawnSync(process.execPath, [cli, 'run', file, '--address', '127.0.0.1:1'], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /Invalid configuration file .*bad\.yaml:/);
  assert.match(result.stderr, /dataset\.classes: .*>=2/);
  assert.match(result.stderr, /image\.height: .*>0/);
  assert.doesNotMatch(result.stderr, /at .*\.js:\d+/, 'bad input should not print a stack trace');
});

test('help lists the commands', () => {
  const result = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  assert.equal(result.status, 0);
  for (const command of ['run', 'status', 'worker', 'demo'])
    assert.match(result.stdout, new RegExp(`\\b${command}\\b`));
});

test('gpu-worker rejects hosts without GPU', () => {
  const result = spawnSync(process.execPath, [cli, 'gpu-worker', '--address', '127.0.0.1:1'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: '/usr/bin:/bin' },
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /No NVIDIA GPU found: nvidia-smi is missing or lists no device/);
  assert.match(result.stderr, /--allow-cpu-fallback/);
});
