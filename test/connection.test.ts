import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { connectOptions, describeConnection, resolveConnection } from '../lib/connection';
import { InvalidInputError } from '../lib/errors';
import { tempDir } from './helpers/data';

test('connection defaults to local dev server', () => {
  const settings = resolveConnection({}, {});
  assert.deepEqual(settings, {
    address: '127.0.0.1:7233',
    namespace: 'default',
    tls: undefined,
    apiKey: undefined,
  });
  assert.deepEqual(connectOptions(settings), {
    address: '127.0.0.1:7233',
    tls: undefined,
    apiKey: undefined,
  });
  assert.equal(
    resolveConnection({ address: '10.0.0.5:7233', namespace: 'ml' }, { TEMPORAL_NAMESPACE: 'other' })
      .namespace,
    'ml',
  );
});

test('connection reads mTLS files', () => {
  const folder = tempDir();
  for (const [name, text] of [
    ['client.pem', 'CERTIFICATE'],
    ['client.key', 'PRIVATE KEY'],
    ['ca.pem', 'CA'],
  ]) {
    writeFileSync(path.join(folder, name), text);
  }
  const settings = resolveConnection(
    {},
    {
      TEMPORAL_ADDRESS: 'ml.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ml.a1b2c',
      TEMPORAL_TLS_CERT: path.join(folder, 'client.pem'),
      TEMPORAL_TLS_KEY: path.join(folder, 'client.key'),
      TEMPORAL_TLS_CA: path.join(folder, 'ca.pem'),
    },
  );
  const options = connectOptions(settings) as {
    tls: { clientCertPair: { crt: Buffer; key: Buffer }; serverRootCACertificate: Buffer };
  };
  assert.equal(options.tls.clientCertPair.crt.toString(), 'CERTIFICATE');
  assert.equal(options.tls.clientCertPair.key.toString(), 'PRIVATE KEY');
  assert.equal(options.tls.serverRootCACertificate.toString(), 'CA');
  assert.equal(describeConnection(settings), 'ml.a1b2c.tmprl.cloud:7233 (namespace ml.a1b2c, mTLS)');
});

test('connection reads API key file', () => {
  const file = path.join(tempDir(), 'api-key');
  writeFileSync(file, 'secret-api-key-value\n');
  const settings = resolveConnection(
    {},
    { TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233', TEMPORAL_API_KEY_FILE: file },
  );
  assert.equal(settings.apiKey, 'secret-api-key-value');
  assert.deepEqual(connectOptions(settings), {
    address: 'us-east-1.aws.api.temporal.io:7233',
    tls: true,
    apiKey: 'secret-api-key-value',
  });
  assert.doesNotMatch(describeConnection(settings), /secret-api-key-value/);
});

test('connection rejects bad settings clearly', () => {
  assert.throws(
    () => resolveConnection({ address: 'no-port' }, {}),
    (error: Error) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, /address: use host:port/);
      return true;
    },
  );
  assert.throws(
    () => resolveConnection({}, { TEMPORAL_TLS_CERT: '/a', TEMPORAL_TLS_KEY: '/b', TEMPORAL_API_KEY: 'k' }),
    /either mTLS .* or an API key .*not both/,
  );
  assert.throws(
    () => resolveConnection({}, { TEMPORAL_API_KEY_FILE: '/nonexistent/key' }),
    /Cannot read \/nonexistent\/key from TEMPORAL_API_KEY_FILE: ENOENT/,
  );
  const settings = resolveConnection(
    {},
    { TEMPORAL_TLS_CERT: '/nonexistent/cert.pem', TEMPORAL_TLS_KEY: '/nonexistent/key.pem' },
  );
  assert.throws(
    () => connectOptions(settings),
    /Cannot read \/nonexistent\/cert\.pem from TEMPORAL_TLS_CERT/,
  );
});
