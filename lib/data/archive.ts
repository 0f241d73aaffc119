import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import * as yauzl from 'yauzl';
import { sha256 } from '../digest';
import { InvalidInputError } from '../errors';
import { TransientFetchError } from '../tf/model-io';

/** Folder for downloaded archives, shared by attempts so that a retry resumes a partial download. */
export function downloadCacheDir(): string {
  return path.join(process.env.RETRAIN_DOWNLOAD_DIR ?? path.join(os.tmpdir(), 'retrain-downloads'));
}

/**
 * Returns a local file with the archive at `location` (a path, file:// URI or http(s) URL). URLs are
 * streamed to disk and resumed with an HTTP Range request after an interruption. When `expected` is
 * given, the file's sha256 must match it.
 *
 * @throws InvalidInputError on HTTP 4xx, a missing file or a sha256 mismatch;
 *   TransientFetchError on network failures and HTTP 5xx, which a retry resumes.
 */
export async function fetchArchive(
  location: string,
  expected?: string,
  onProgress?: (bytes: number, total?: number) => void,
): Promise<{ file: string; sha256: string }> {
  let file: string;
  if (/^https?:\/\//.test(location)) {
    file = await downloadResumable(location, onProgress);
  } else {
    file = location.startsWith('file://') ? new URL(location).pathname : location;
    try {
      await fs.access(file);
    } catch {
      throw new InvalidInputError(`Archive ${location} does not exist. Check dataset.source.url.`);
    }
  }
  const digest = await fileSha256(file);
  if (expected && digest !== expected.toLowerCase()) {
    if (/^https?:\/\//.test(location)) await fs.rm(file, { force: true });
    throw new InvalidInputError(
      `Archive ${location} has sha256 ${digest}, but dataset.source.sha256 is ${expected}. ` +
        'Check the URL and the expected digest.',
    );
  }
  return { file, sha256: digest };
}

async function downloadResumable(
  url: string,
  onProgress?: (bytes: number, total?: number) => void,
): Promise<string> {
  const folder = downloadCacheDir();
  await fs.mkdir(folder, { recursive: true });
  const target = path.join(folder, sha256(url).slice(0, 32) + path.extname(new URL(url).pathname));
  const partial = `${target}.partial`;
  try {
    await fs.access(target);
    return target;
  } catch {
    // Not downloaded yet.
  }

  const have = await fs.stat(partial).then(
    (stat) => stat.size,
    () => 0,
  );
  let response: Response;
  try {
    response = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  } catch (error) {
    throw new TransientFetchError(`GET ${url} failed: ${(error as Error).message}`);
  }
  if (response.status >= 500 || response.status === 429) {
    throw new TransientFetchError(
      `GET ${url} returned HTTP ${response.status}; retrying resumes the download.`,
    );
  }
  if (!response.ok || !response.body) {
    throw new InvalidInputError(`GET ${url} returned HTTP ${response.status}. Check dataset.source.url.`);
  }
  // 206 continues the partial file; 200 means the server ignored the range, so start over.
  const append = response.status === 206 && have > 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const offset = append ? have : 0;
  const total = Number.isFinite(length) ? length + offset : undefined;
  let received = append ? have : 0;
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
    onProgress?.(received, total);
  });
  try {
    await pipeline(body, createWriteStream(partial, { flags: append ? 'a' : 'w' }));
  } catch (error) {
    throw new TransientFetchError(
      `Downloading ${url} stopped after ${received} bytes: ${(error as Error).message}`,
    );
  }
  if (total !== undefined && received !== total) {
    throw new TransientFetchError(`Downloading ${url} stopped after ${received} of ${total} bytes.`);
  }
  await fs.rename(partial, target);
  return target;
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Extracts a .zip, .tar or .tar.gz archive into an empty folder. Every entry is checked before
 * anything is written: absolute paths, paths that climb out with `..`, and symbolic or hard links
 * are rejected, because they could write outside the folder or read files that are not the dataset.
 *
 * @throws InvalidInputError naming the first offending entry, or for an unknown archive format.
 */
export async function extractArchive(file: string, target: string, name = file): Promise<void> {
  await fs.mkdir(target, { recursive: true });
  const lower = name.toLowerCase().split('?')[0];
  if (lower.endsWith('.zip')) return extractZip(file, target, name);
  if (lower.endsWith('.tar') || lower.endsWith('.tar.gz') || lower.endsWith('.tgz'))
    return extractTar(file, target, name);
  throw new InvalidInputError(`Archive ${name} is not a .zip, .tar, .tar.gz or .tgz file.`);
}

function checkEntryPath(entry: string, archive: string): void {
  const normalized = path.posix.normalize(entry.replace(/\\/g, '/'));
  if (
    path.posix.isAbsolute(normalized) ||
    normalized === '..' ||
    normalized.startsWith('../') ||
    /^[a-zA-Z]:/.test(normalized)
  ) {
    throw new InvalidInputError(
      `Archive ${archive} has an entry ${JSON.stringify(entry)} that points outside the extraction folder.`,
    );
  }
}

async function extractTar(file: string, target: string, name: string): Promise<void> {
  const problems: string[] = [];
  await tar.t({
    file,
    onReadEntry: (entry) => {
      try {
        checkEntryPath(entry.path, name);
        if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
          problems.push(
            `Archive ${name} has a link entry ${JSON.stringify(entry.path)}; links are not extracted.`,
          );
        }
      } catch (error) {
        problems.push((error as Error).message);
      }
    },
  });
  if (problems.length > 0) throw new InvalidInputError(problems[0]);
  await tar.x({ file, cwd: target, strict: true, preservePaths: false });
}

async function extractZip(file: string, target: string, name: string): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true }, (error, opened) =>
      error ? reject(error) : resolve(opened as yauzl.ZipFile),
    ),
  );
  const entries: yauzl.Entry[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.on('end', resolve);
    zip.on('error', (error: Error) => {
      // yauzl validates names itself and reports climbing or absolute paths as errors.
      if (/invalid relative path|absolute path/.test(error.message)) {
        reject(
          new InvalidInputError(
            `Archive ${name} has an entry that points outside the extraction folder (${error.message}).`,
          ),
        );
      } else reject(error);
    });
    zip.readEntry();
  });
  for (const entry of entries) {
    checkEntryPath(entry.fileName, name);
    const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
    if (mode === 0o120000) {
      throw new InvalidInputError(
        `Archive ${name} has a link entry ${JSON.stringify(entry.fileName)}; links are not extracted.`,
      );
    }
  }
  zip.close();

  const reader = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true }, (error, opened) =>
      error ? reject(error) : resolve(opened as yauzl.ZipFile),
    ),
  );
  await new Promise<void>((resolve, reject) => {
    reader.on('entry', (entry: yauzl.Entry) => {
      const destination = path.join(target, path.posix.normalize(entry.fileName));
      if (entry.fileName.endsWith('/')) {
        fs.mkdir(destination, { recursive: true }).then(() => reader.readEntry(), reject);
        return;
      }
      reader.openReadStream(entry, (error, stream) => {
        if (error || !stream) return reject(error ?? new Error(`Cannot read ${entry.fileName} in ${name}.`));
        fs.mkdir(path.dirname(destination), { recursive: true })
          .then(() => pipeline(stream, createWriteStream(destination)))
          .then(() => reader.readEntry(), reject);
      });
    });
    reader.on('end', resolve);
    reader.on('error', reject);
    reader.readEntry();
  });
}
