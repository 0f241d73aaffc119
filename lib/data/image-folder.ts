import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../errors';
import { S3ArtifactStore } from '../store/s3-store';

/** File extensions read as images, as keras.utils.image_dataset_from_directory reads them. */
export const IMAGE_EXTENSIONS = ['.bmp', '.gif', '.jpeg', '.jpg', '.png', '.webp', '.tif', '.tiff'];

export interface FolderImage {
  relativePath: string;
  label: number;
  bytes: number;
  /** Modification time (local files) or ETag (S3 objects), so that fingerprints change with content. */
  version: string;
}

export interface FolderListing {
  classNames: string[];
  files: FolderImage[];
  /** Files skipped because they are hidden or not images by extension, such as Thumbs.db. */
  ignored: string[];
}

interface SourceFile {
  relativePath: string;
  bytes: number;
  version: string;
}

/**
 * Lists an image folder with one subfolder per class: a local folder, or an s3:// prefix whose
 * first key segment below the prefix names the class. Class folders may nest further folders.
 * Classes are sorted by name unless a list picks them, and the order gives the labels.
 *
 * @throws InvalidInputError if the folder or a requested class is missing, or a class has no images.
 */
export async function listImageFolder(root: string, classes?: string[]): Promise<FolderListing> {
  const sourceFiles = root.startsWith('s3://') ? await listS3(root) : await listLocal(root);
  const where = root.split('?')[0];

  // Local class folders count even when empty, so that an empty class gets its own error.
  const byClass = new Map<string, SourceFile[]>();
  if (!root.startsWith('s3://')) {
    for (const entry of await fs.readdir(root, { withFileTypes: true })) {
      if (entry.isDirectory() && !entry.name.startsWith('.')) byClass.set(entry.name, []);
    }
  }
  const ignored: string[] = [];
  for (const file of sourceFiles) {
    const segments = file.relativePath.split('/');
    if (segments.length < 2 || segments.some((segment) => segment.startsWith('.'))) {
      ignored.push(file.relativePath);
      continue;
    }
    if (!byClass.has(segments[0])) byClass.set(segments[0], []);
    if (IMAGE_EXTENSIONS.includes(path.extname(file.relativePath).toLowerCase()))
      byClass.get(segments[0])?.push(file);
    else ignored.push(file.relativePath);
  }

  const available = [...byClass.keys()].sort();
  const classNames = classes ?? available;
  for (const name of classNames) {
    if (!available.includes(name)) {
      throw new InvalidInputError(
        `Class folder ${JSON.stringify(name)} is not in ${where}. Available classes: ${available.join(', ') || '(none)'}.`,
      );
    }
  }
  if (classNames.length < 2) {
    throw new InvalidInputError(
      `Image folder ${where} has ${classNames.length} class folder(s); a classifier needs at least 2.`,
    );
  }

  const files: FolderImage[] = [];
  for (const [label, name] of classNames.entries()) {
    const images = (byClass.get(name) ?? []).sort((a, b) => (a.relativePath < b.relativePath ? -1 : 1));
    if (images.length === 0) {
      throw new InvalidInputError(
        `Class folder ${where}/${name} has no images (${IMAGE_EXTENSIONS.join(', ')}).`,
      );
    }
    for (const image of images) files.push({ ...image, label });
  }
  return { classNames, files, ignored: ignored.sort() };
}

/** Reads one file of an image folder listed by {@link listImageFolder}. */
export async function readImageFolderFile(root: string, relativePath: string): Promise<Buffer> {
  if (!root.startsWith('s3://')) return fs.readFile(path.join(root, relativePath));
  const data = await new S3ArtifactStore(root).get(relativePath);
  if (data === undefined)
    throw new Error(`${root.split('?')[0]}/${relativePath} disappeared after it was listed.`);
  return data;
}

async function listLocal(root: string): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await fs.readdir(path.join(root, relative), { withFileTypes: true });
    for (const entry of entries) {
      const child = relative ? path.posix.join(relative, entry.name) : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        const stat = await fs.stat(path.join(root, child));
        files.push({ relativePath: child, bytes: stat.size, version: String(stat.mtimeMs) });
      }
    }
  };
  try {
    await fs.access(root);
  } catch {
    throw new InvalidInputError(
      `Image folder ${root} does not exist or cannot be read. Set dataset.source.path to a folder with one subfolder per class.`,
    );
  }
  await walk('');
  return files;
}

async function listS3(root: string): Promise<SourceFile[]> {
  const objects = await new S3ArtifactStore(root).listObjects('');
  return objects.map((object) => ({ relativePath: object.key, bytes: object.bytes, version: object.etag }));
}
