import { z } from 'zod';
import { backendSchema } from '../lib/config';
import sharp from 'sharp';
import { readShard, shardGroupsOf, type ShardRef } from '../lib/data/shards';
import { renderHtmlReport, type ReportImage } from '../lib/report-html';
import type { ArtifactStore } from '../lib/store';
import { renderMarkdownReport, type ReportInput } from '../lib/report';
import { runStageJob } from './compute';
import { defineStage } from './stage';

const MODEL_LABELS: Record<string, string> = {
  'fine-tune': 'Transfer learning (fine-tuned)',
  'train-head': 'Transfer learning (head only)',
  'train-baseline': 'Baseline from scratch',
};

/**
 * Evaluates the fine-tuned model, and every other trained model the pipeline produced, on the
 * held-out test split. It writes metrics.json, a Markdown report and a self-contained HTML report.
 */
export const evaluate = defineStage({
  name: 'evaluate',
  version: 2,
  params: z.object({
    backend: backendSchema,
    batchSize: z.number().int().positive().default(64),
    pipeline: z.string(),
    /** The run's configuration, shown in the report. */
    configuration: z.unknown().optional(),
  }),
  run: async (context) => {
    const { inputs, store, attemptPrefix, params } = context;
    const classNames = inputs['augment-cache'].info.classNames as string[];
    const models = Object.fromEntries(
      Object.keys(MODEL_LABELS)
        .filter((stage) => inputs[stage])
        .map((stage) => [
          stage,
          {
            model: {
              modelJson: inputs[stage].artifacts['model.json'],
              weights: inputs[stage].artifacts['weights.bin'],
            },
            writtenBy: stage,
          },
        ]),
    );
    const evaluations = await runStageJob(context, 'evaluate', {
      storeUri: context.storeUri,
      backend: params.backend,
      numClasses: classNames.length,
      batchSize: params.batchSize,
      test: shardGroupsOf(inputs['augment-cache']).test,
      models,
    });

    const resize = inputs.resize;
    const metrics = Object.fromEntries(
      Object.entries(evaluations).map(([name, evaluation]) => [name, evaluation.metrics]),
    );
    const metricsArtifact = await store.put(
      `${attemptPrefix}/metrics.json`,
      Buffer.from(JSON.stringify({ classNames, metrics }, null, 2)),
    );
    const predictions = await store.put(
      `${attemptPrefix}/predictions.json`,
      Buffer.from(
        JSON.stringify(
          Object.fromEntries(
            Object.entries(evaluations).map(([name, evaluation]) => [name, evaluation.predictions]),
          ),
        ),
      ),
    );
    const reportInput: ReportInput = {
      pipeline: params.pipeline,
      classNames,
      counts: resize?.counts ?? {},
      evaluations: metrics,
      labels: MODEL_LABELS,
      histories: Object.fromEntries(
        ['train-head', 'fine-tune', 'train-baseline']
          .filter((stage) => inputs[stage])
          .map((stage) => [MODEL_LABELS[stage], inputs[stage].info.history as Record<string, number[]>]),
      ),
      skipped: (resize?.info.skipped as { source: string; reason: string }[] | undefined) ?? [],
    };
    const reportArtifact = await store.put(
      `${attemptPrefix}/report.md`,
      Buffer.from(renderMarkdownReport(reportInput)),
    );

    const testShards = shardGroupsOf(inputs['augment-cache']).test;
    const gridPredictions = (evaluations['fine-tune']?.predictions ?? []).slice(0, REPORT_IMAGES);
    const html = renderHtmlReport({
      ...reportInput,
      timings: Object.values(inputs).map((manifest) => ({
        stage: manifest.stage,
        seconds: manifest.computeSeconds,
        attempt: manifest.attempt,
      })),
      configuration: params.configuration ?? null,
      images: await thumbnails(store, testShards, gridPredictions, classNames),
    });
    const htmlArtifact = await store.put(`${attemptPrefix}/report.html`, Buffer.from(html));

    const final = metrics['fine-tune'];
    return {
      artifacts: {
        'metrics.json': metricsArtifact,
        'predictions.json': predictions,
        'report.md': reportArtifact,
        'report.html': htmlArtifact,
      },
      metrics: {
        accuracy: final.accuracy,
        loss: final.loss,
        precision: final.precision,
        recall: final.recall,
        f1: final.f1,
        rocAuc: final.rocAuc,
        ...Object.fromEntries(
          Object.entries(metrics).map(([name, value]) => [`${name}:accuracy`, value.accuracy]),
        ),
      },
      info: { classNames, confusionMatrix: final.confusionMatrix, report: htmlArtifact.uri },
    };
  },
});

/** Test images shown in the HTML report's grid. */
const REPORT_IMAGES = 48;

/** Encodes the predicted test images as PNG data URIs, reading one test shard at a time. */
async function thumbnails(
  store: ArtifactStore,
  shards: ShardRef[],
  predictions: { index: number; label: number; predicted: number; confidence: number }[],
  classNames: string[],
): Promise<ReportImage[]> {
  const byIndex = new Map(predictions.map((prediction) => [prediction.index, prediction]));
  const images = new Map<number, ReportImage>();
  let offset = 0;
  for (const shard of shards) {
    const needed = [...byIndex.keys()].filter((index) => index >= offset && index < offset + shard.count);
    if (needed.length > 0) {
      const batch = await readShard(store, shard, 'resize');
      const [, height, width, channels] = batch.shape;
      const size = height * width * channels;
      for (const index of needed) {
        const local = index - offset;
        const pixels = Buffer.from(batch.images.subarray(local * size, (local + 1) * size));
        const png = await sharp(pixels, { raw: { width, height, channels: channels as 3 } })
          .png()
          .toBuffer();
        const prediction = byIndex.get(index) as (typeof predictions)[number];
        images.set(index, {
          dataUri: `data:image/png;base64,${png.toString('base64')}`,
          label: classNames[prediction.label],
          predicted: classNames[prediction.predicted],
          confidence: prediction.confidence,
        });
      }
    }
    offset += shard.count;
  }
  return predictions
    .map((prediction) => images.get(prediction.index))
    .filter((image): image is ReportImage => Boolean(image));
}
