import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../lib/digest';
import { ArtifactIntegrityError } from '../lib/errors';
import { openStore, readArtifact } from '../lib/store';
import { tempDir } from './helpers/data';

test('local store put returns digest and reads back', async () => {
  const store = openStore(tempDir());
  const artifact = await store.put('a/b/c.bin', Buffer.from('hello'));
  assert.equal(artifact.sha256, sha256('hello'));
  assert.equal(artifact.bytes, 5);
  assert.equal(store.keyOf(artifact.uri), 'a/b/c.bin');
  assert.equal((await store.get('a/b/c.bin'))?.toString(), 'hello');
  assert.equal(await store.get('missing'), undefined);
});

test('local store putIfAbsent never replaces', async () => {
  const store = openStore(tempDir());
  assert.equal(await store.putIfAbsent('manifest.json', Buffer.from('first')), true);
  assert.equal(await store.putIfAbsent('manifest.json', Buffer.from('second')), false);
  assert.equal((await store.get('manifest.json'))?.toString(), 'first');
});

test('local store concurrent putIfAbsent has one winner', async () => {
  const store = openStore(tempDir());
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => store.putIfAbsent('manifest.json', Buffer.from(`writer ${i}`))),
  );
  assert.equal(results.filter(Boolean).length, 1);
  const winner = results.indexOf(true);
  assert.equal((await store.get('manifest.json'))?.toString(), `writer ${winner}`);
});

test('local store leaves no temporary files', async () => {
  const folder = tempDir();
  const store = openStore(folder);
  await store.put('x/one', Buffer.from('1'));
  await store.putIfAbsent('x/two', Buffer.from('2'));
  await store.putIfAbsent('x/two', Buffer.from('3'));
  assert.deepEqual((await fs.readdir(path.join(folder, 'x'))).sort(), ['one', 'two']);
  assert.deepEqual(await store.list('x/'), ['x/one', 'x/two']);
});

test('local store rejects keys outside root', async () => {
  const store = openStore(tempDir());
  await assert.rejects(
    store.put('../escape', Buffer.from('x')),
    /keys are relative and stay inside the store/,
  );
  assert.throws(() => store.keyOf('file:///etc/passwd'), /outside the store/);
});

test('readArtifact names URI and stage on corruption', async () => {
  const store = openStore(tempDir());
  const artifact = await store.put('stage/out.bin', Buffer.from('original'));
  await fs.writeFile(fileURLToPath(artifact.uri), 'tampered');
  await assert.rejects(readArtifact(store, artifact, 'resize'), (error: Error) => {
    assert.ok(error instanceof ArtifactIntegrityError);
    assert.match(error.message, /out\.bin written by resize is corrupted/);
    return true;
  });
  await fs.rm(fileURLToPath(artifact.uri));
  await assert.rejects(readArtifact(store, artifact, 'resize'), /written by resize is missing/);
});

test('openStore rejects unknown schemes', () => {
  assert.throws(
    () => openStore('ftp://host/folder'),
    /Unsupported artifact store URI "ftp:\/\/host\/folder"/,
  );
});
