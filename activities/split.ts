import seedrandom from 'seedrandom';
import { splitSchema } from '../lib/config';
import { decodeNpy } from '../lib/data/npy';
import { InvalidInputError } from '../lib/errors';
import { readArtifact } from '../lib/store';
import { defineStage } from './stage';

export const SPLITS = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/**
 * Splits the dataset into train, validation and test by percentages of each class (stratified),
 * with a seeded shuffle, so the same seed and data always give the same split.
 */
export const split = defineStage({
  name: 'split',
  version: 1,
  params: splitSchema,
  run: async ({ params, inputs, store, attemptPrefix }) => {
    const dataset = inputs.download;
    const labels = await readLabels(dataset, store);
    const classNames = dataset.info.classNames as string[];

    const byClass: number[][] = classNames.map(() => []);
    labels.forEach((label, index) => byClass[label].push(index));

    const random = seedrandom(String(params.seed));
    const assignment: Record<SplitName, number[]> = { train: [], validation: [], test: [] };
    const counts: Record<string, number> = {};
    byClass.forEach((indices, label) => {
      shuffle(indices, random);
      let start = 0;
      for (const name of SPLITS) {
        const take = Math.floor((indices.length * params[name]) / 100);
        if (take === 0) {
          throw new InvalidInputError(
            `Class ${JSON.stringify(classNames[label])} has ${indices.length} images, too few for a ${params[name]}% ${name} split. ` +
              'Add images, raise the percentage or raise dataset.maxPerClass.',
          );
        }
        assignment[name].push(...indices.slice(start, start + take));
        counts[`${name}:${classNames[label]}`] = take;
        start += take;
      }
    });
    for (const name of SPLITS) {
      shuffle(assignment[name], random);
      counts[name] = assignment[name].length;
    }

    const artifact = await store.put(`${attemptPrefix}/split.json`, Buffer.from(JSON.stringify(assignment)));
    return { artifacts: { split: artifact }, counts, info: { classNames } };
  },
});

async function readLabels(
  dataset: {
    artifacts: Record<string, import('../lib/pipeline').ArtifactRef>;
    info: Record<string, unknown>;
  },
  store: import('../lib/store').ArtifactStore,
): Promise<number[]> {
  if (dataset.info.format === 'npy') {
    return Array.from(decodeNpy(await readArtifact(store, dataset.artifacts.labels, 'download')).data);
  }
  const index = JSON.parse(
    (await readArtifact(store, dataset.artifacts.index, 'download')).toString('utf8'),
  ) as { label: number }[];
  return index.map((entry) => entry.label);
}

/** Fisher-Yates shuffle in place. */
function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}
