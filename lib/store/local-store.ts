import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../digest';
import type { Artifact, ArtifactStore } from './artifact-store';

/**
 * Artifact store on a local folder, the embedded default.
 *
 * Writes go to a temporary file in the target folder and are renamed into place, so a crash leaves
 * either the old object or the new one. `putIfAbsent` links the temporary file to the final name,
 * which fails with EEXIST instead of replacing a committed object.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;
  private readonly folder: string;

  constructor(folder: string) {
    this.folder = path.resolve(folder);
    this.root = pathToFileURL(this.folder).href;
  }

  uriOf(key: string): string {
    return pathToFileURL(this.pathOf(key)).href;
  }

  keyOf(uri: string): string {
    const file = fileURLToPath(uri);
    const relative = path.relative(this.folder, file);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new Error(`Artifact URI ${uri} is outside the store at ${this.root}.`);
    }
    return relative.split(path.sep).join('/');
  }

  async put(key: string, data: Buffer): Promise<Artifact> {
    const target = this.pathOf(key);
    const temporary = await this.writeTemporary(target, data);
    await fs.rename(temporary, target);
    return { uri: this.uriOf(key), sha256: sha256(data), bytes: data.length };
  }

  async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    const target = this.pathOf(key);
    const temporary = await this.writeTemporary(target, data);
    try {
      await fs.link(temporary, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await fs.rm(temporary, { force: true });
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const start = this.pathOf(prefix.endsWith('/') ? prefix : path.posix.dirname(prefix) || '.');
    await this.walk(start, keys);
    return keys.filter((key) => key.startsWith(prefix)).sort();
  }

  private async walk(folder: string, keys: string[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(folder, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) await this.walk(full, keys);
      else if (entry.isFile() && !entry.name.startsWith('.tmp-'))
        keys.push(this.keyOf(pathToFileURL(full).href));
    }
  }

  private pathOf(key: string): string {
    const normalized = path.posix.normalize(key);
    if (normalized.startsWith('..') || path.posix.isAbsolute(normalized)) {
      throw new Error(
        `Invalid artifact key ${JSON.stringify(key)}: keys are relative and stay inside the store.`,
      );
    }
    return path.join(this.folder, ...normalized.split('/'));
  }

  private async writeTemporary(target: string, data: Buffer): Promise<string> {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temporary = path.join(
      path.dirname(target),
      `.tmp-${path.basename(target)}-${randomBytes(6).toString('hex')}`,
    );
    const handle = await fs.open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return temporary;
  }
}
