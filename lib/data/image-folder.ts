import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../errors';

/** File extensions read as images, as keras.utils.image_dataset_from_directory reads them. */
export const IMAGE_EXTENSIONS = ['.bmp', '.gif', '.jpeg', '.jpg', '.png', '.webp', '.tif', '.tiff'];

export interface FolderImage {
  relativePath: string;
  label: number;
  bytes: number;
  modifiedMs: number;
}

export interface FolderListing {
  classNames: string[];
  files: FolderImage[];
  /** Files skipped because they are hidden or not images by extension, such as Thumbs.db. */
  ignored: string[];
}

/**
 * Lists an image folder with one subfolder per class. Class folders may nest further folders.
 * Classes are sorted by name unless a list picks them, and the order gives the labels.
 *
 * @throws InvalidInputError if the folder or a requested class is missing, or a class has no images.
 */
export async function listImageFolder(root: string, classes?: string[]): Promise<FolderListing> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch {
    throw new InvalidInputError(
      `Image folder ${root} does not exist or cannot be read. Set dataset.source.path to a folder with one subfolder per class.`,
    );
  }
  const available = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
  const classNames = classes ?? available;
  for (const name of classNames) {
    if (!available.includes(name)) {
      throw new InvalidInputError(
        `Class folder ${JSON.stringify(name)} is not in ${root}. Available classes: ${available.join(', ') || '(none)'}.`,
      );
    }
  }
  if (classNames.length < 2) {
    throw new InvalidInputError(
      `Image folder ${root} has ${classNames.length} class folder(s); a classifier needs at least 2.`,
    );
  }

  const files: FolderImage[] = [];
  const ignored: string[] = [];
  for (const [label, name] of classNames.entries()) {
    const before = files.length;
    await walk(root, name, label, files, ignored);
    if (files.length === before) {
      throw new InvalidInputError(
        `Class folder ${path.join(root, name)} has no images (${IMAGE_EXTENSIONS.join(', ')}).`,
      );
    }
  }
  return { classNames, files, ignored };
}

async function walk(
  root: string,
  relative: string,
  label: number,
  files: FolderImage[],
  ignored: string[],
): Promise<void> {
  const entries = await fs.readdir(path.join(root, relative), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const child = path.posix.join(relative, entry.name);
    if (entry.name.startsWith('.')) {
      ignored.push(child);
    } else if (entry.isDirectory()) {
      await walk(root, child, label, files, ignored);
    } else if (entry.isFile() && IMAGE_EXTENSIONS.includes(path.extname(entry.name).toLowerCase())) {
      const stat = await fs.stat(path.join(root, child));
      files.push({ relativePath: child, label, bytes: stat.size, modifiedMs: stat.mtimeMs });
    } else {
      ignored.push(child);
    }
  }
}
