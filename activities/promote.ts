import { z } from 'zod';
import { backendSchema } from '../lib/config';
import { shardGroupsOf } from '../lib/data/shards';
import type { ArtifactRef } from '../lib/pipeline';
import { readArtifact, type ArtifactStore } from '../lib/store';
import { runStageJob } from './compute';
import { defineStage } from './stage';

/** A promoted model: an append-only record under champions/<pipeline>/, the highest version current. */
export interface ChampionRecord {
  version: number;
  modelJson: ArtifactRef;
  weights: ArtifactRef;
  metric: string;
  score: number;
  promotedAt: string;
}

export const promotionSchema = z.object({
  /** Test-set metric the gate compares; loss counts as better when lower. */
  metric: z.enum(['accuracy', 'f1', 'rocAuc', 'precision', 'recall', 'loss']).default('accuracy'),
  /** How much the new model must beat the champion by, in the metric's units. */
  margin: z.number().min(0).default(0.005),
});

const LOWER_IS_BETTER = new Set(['loss']);

/** Returns the current champion of a pipeline, or undefined before the first promotion. */
export async function currentChampion(
  store: ArtifactStore,
  pipeline: string,
): Promise<ChampionRecord | undefined> {
  const keys = (await store.list(`champions/${pipeline}/`)).filter((key) => /\/v\d{6}\.json$/.test(key));
  const latest = keys.sort().at(-1);
  if (!latest) return undefined;
  return JSON.parse(((await store.get(latest)) as Buffer).toString('utf8')) as ChampionRecord;
}

/**
 * Promotion gate: evaluates the current champion on this run's test split and promotes the new
 * model only when the chosen metric improves by the margin. Promotions are append-only records
 * written with putIfAbsent, so two runs promoting at once cannot both become version N.
 */
export const promote = defineStage({
  name: 'promote',
  version: 1,
  params: z.object({ promotion: promotionSchema, pipeline: z.string(), backend: backendSchema }),
  // The champion lives outside the stage's inputs, so its version is part of the cache key.
  fingerprint: async (params, store) => (await currentChampion(store, params.pipeline))?.version ?? 0,
  run: async (context) => {
    const { params, inputs, store, attemptPrefix } = context;
    const { metric, margin } = params.promotion;
    const candidateScore = inputs.evaluate.metrics[metric];
    const champion = await currentChampion(store, params.pipeline);

    let championScore: number | undefined;
    if (champion) {
      const evaluations = await runStageJob(context, 'evaluate', {
        storeUri: context.storeUri,
        backend: params.backend,
        numClasses: (inputs['augment-cache'].info.classNames as string[]).length,
        batchSize: 64,
        test: shardGroupsOf(inputs['augment-cache']).test,
        models: {
          champion: {
            model: { modelJson: champion.modelJson, weights: champion.weights },
            writtenBy: 'an earlier promotion',
          },
        },
      });
      championScore = evaluations.champion.metrics[metric];
    }

    const improvement =
      championScore === undefined
        ? Infinity
        : LOWER_IS_BETTER.has(metric)
          ? championScore - candidateScore
          : candidateScore - championScore;
    let promoted = championScore === undefined || improvement >= margin;
    let version = champion?.version ?? 0;
    if (promoted) {
      const record: ChampionRecord = {
        version: version + 1,
        modelJson: inputs['fine-tune'].artifacts['model.json'],
        weights: inputs['fine-tune'].artifacts['weights.bin'],
        metric,
        score: candidateScore,
        promotedAt: new Date().toISOString(),
      };
      const key = `champions/${params.pipeline}/v${String(record.version).padStart(6, '0')}.json`;
      promoted = await store.putIfAbsent(key, Buffer.from(JSON.stringify(record, null, 2)));
      if (promoted) version = record.version;
    }

    const decision = {
      promoted,
      metric,
      margin,
      candidateScore,
      championScore: championScore ?? null,
      championVersion: version,
      reason:
        championScore === undefined
          ? 'no champion yet'
          : promoted
            ? `${metric} improved by ${improvement.toFixed(4)} (margin ${margin})`
            : `${metric} changed by ${improvement.toFixed(4)}, below the margin ${margin}; the champion stays`,
    };
    const artifact = await store.put(
      `${attemptPrefix}/promotion.json`,
      Buffer.from(JSON.stringify(decision, null, 2)),
    );

    // The run's report gains a section with the decision and both scores.
    const evaluated = (
      await readArtifact(store, inputs.evaluate.artifacts['report.html'], 'evaluate')
    ).toString('utf8');
    const section =
      `<h2>Promotion</h2><table><tr><th>decision</th><td>${promoted ? 'promoted' : 'not promoted'}</td></tr>` +
      `<tr><th>${metric} of this run</th><td>${candidateScore.toFixed(4)}</td></tr>` +
      `<tr><th>${metric} of the champion</th><td>${championScore === undefined ? 'none' : championScore.toFixed(4)}</td></tr>` +
      `<tr><th>reason</th><td>${decision.reason}</td></tr></table>`;
    const report = await store.put(
      `${attemptPrefix}/report.html`,
      Buffer.from(evaluated.replace('</body>', `${section}\n</body>`)),
    );
    return {
      artifacts: { 'promotion.json': artifact, 'report.html': report },
      metrics: {
        candidateScore,
        ...(championScore === undefined ? {} : { championScore }),
        promoted: promoted ? 1 : 0,
      },
      info: decision,
    };
  },
});
