import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { extractArchive, fetchArchive } from '../lib/data/archive';
import { sha256 } from '../lib/digest';
import { InvalidInputError } from '../lib/errors';
import { TransientFetchError } from '../lib/tf/model-io';
import { writeArchive } from './helpers/archives';
import { tempDir } from './helpers/data';

let server: http.Server;
let baseUrl: string;
const served = new Map<string, Buffer>();
const ranges: string[] = [];
/** Paths whose first request is cut after this many bytes. */
const cutAfter = new Map<string, number>();

before(async () => {
  process.env.RETRAIN_DOWNLOAD_DIR = tempDir('retrain-downloads-');
  server = http.createServer((request, response) => {
    const body = served.get(request.url ?? '');
    if (!body) return void response.writeHead(404).end();
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (range) {
      ranges.push(request.headers.range as string);
      const start = Number(range[1]);
      response.writeHead(206, {
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
      return void response.end(body.subarray(start));
    }
    response.writeHead(200, { 'content-length': body.length });
    const cut = cutAfter.get(request.url ?? '');
    if (cut !== undefined) {
      cutAfter.delete(request.url ?? '');
      response.write(body.subarray(0, cut));
      return void setTimeout(() => response.destroy(), 50);
    }
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

async function imageBytes(color: string): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: color } })
    .jpeg()
    .toBuffer();
}

test('archive download resumes after cut', async () => {
  const folder = tempDir();
  const file = path.join(folder, 'pets.tar.gz');
  writeArchive(file, [
    { name: 'PetImages/Cat/1.jpg', data: await imageBytes('#ff0000') },
    { name: 'PetImages/Dog/1.jpg', data: await imageBytes('#0000ff') },
  ]);
  const data = readFileSync(file);
  served.set('/pets.tar.gz', data);
  cutAfter.set('/pets.tar.gz', Math.floor(data.length / 2));

  await assert.rejects(
    fetchArchive(`${baseUrl}/pets.tar.gz`),
    (error: Error) => error instanceof TransientFetchError,
  );
  const fetched = await fetchArchive(`${baseUrl}/pets.tar.gz`, sha256(data));
  assert.equal(fetched.sha256, sha256(data));
  assert.deepEqual(ranges, [`bytes=${Math.floor(data.length / 2)}-`]);

  const target = path.join(folder, 'out');
  await extractArchive(fetched.file, target, 'pets.tar.gz');
  assert.ok(existsSync(path.join(target, 'PetImages', 'Dog', '1.jpg')));
});

test('archive sha256 mismatch is rejected', async () => {
  const folder = tempDir();
  const file = path.join(folder, 'data.zip');
  writeArchive(file, [{ name: 'a/1.jpg', data: await imageBytes('#00ff00') }]);
  served.set('/data.zip', readFileSync(file));
  await assert.rejects(fetchArchive(`${baseUrl}/data.zip`, '0'.repeat(64)), (error: Error) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /has sha256 [0-9a-f]{64}, but dataset.source.sha256 is 0{64}/);
    return true;
  });
  await assert.rejects(fetchArchive(`${baseUrl}/missing.zip`), /returned HTTP 404/);
});

test('archive entries escaping target are rejected', async () => {
  const cases: [string, { name: string; data?: Buffer; symlinkTo?: string }[], RegExp][] = [
    [
      'climb.tar',
      [{ name: '../evil.txt', data: Buffer.from('x') }],
      /entry "\.\.\/evil\.txt" that points outside/,
    ],
    [
      'nested-climb.tar.gz',
      [{ name: 'a/../../evil.txt', data: Buffer.from('x') }],
      /points outside the extraction folder/,
    ],
    [
      'absolute.tar',
      [{ name: '/tmp/evil.txt', data: Buffer.from('x') }],
      /entry "\/tmp\/evil\.txt" that points outside/,
    ],
    ['link.tar', [{ name: 'a/link.jpg', symlinkTo: '/etc/passwd' }], /link entry "a\/link\.jpg"/],
    ['climb.zip', [{ name: '../evil.txt', data: Buffer.from('x') }], /points outside the extraction folder/],
    ['link.zip', [{ name: 'a/link.jpg', symlinkTo: '/etc/passwd' }], /link entry "a\/link\.jpg"/],
  ];
  for (const [name, entries, message] of cases) {
    const folder = tempDir();
    const file = path.join(folder, name);
    writeArchive(file, [{ name: 'ok/fine.jpg', data: Buffer.from('fine') }, ...entries]);
    const target = path.join(folder, 'out');
    await assert.rejects(extractArchive(file, target, name), (error: Error) => {
      assert.ok(error instanceof InvalidInputError, `${name}: ${error.message}`);
      assert.match(error.message, message);
      return true;
    });
    assert.deepEqual(await fs.readdir(target), [], `${name}: nothing may be written before the check`);
    assert.equal(existsSync(path.join(folder, 'evil.txt')), false);
  }
  await assert.rejects(
    extractArchive(__filename, tempDir(), 'data.rar'),
    /not a \.zip, \.tar, \.tar\.gz or \.tgz file/,
  );
});
