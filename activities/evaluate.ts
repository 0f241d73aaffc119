import { z } from 'zod';
import { backendSchema } from '../lib/config';
import { shardGroupsOf } from '../lib/data/shards';
import { renderMarkdownReport } from '../lib/report';
import { runStageJob } from './compute';
import { defineStage } from './stage';

const MODEL_LABELS: Record<string, string> = {
  'fine-tune': 'Transfer learning (fine-tuned)',
  'train-head': 'Transfer learning (head only)',
  'train-baseline': 'Baseline from scratch',
};

/**
 * Evaluates the fine-tuned model, and every other trained model the pipeline produced, on the
 * held-out test split; writes metrics.json and a Markdown report.
 */
export const evaluate = defineStage({
  name: 'evaluate',
  version: 1,
  params: z.object({
    backend: backendSchema,
    batchSize: z.number().int().positive().default(64),
    pipeline: z.string(),
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
    const report = renderMarkdownReport({
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
    });
    const reportArtifact = await store.put(`${attemptPrefix}/report.md`, Buffer.from(report));

    const final = metrics['fine-tune'];
    return {
      artifacts: {
        'metrics.json': metricsArtifact,
        'predictions.json': predictions,
        'report.md': reportArtifact,
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
      info: { classNames, confusionMatrix: final.confusionMatrix, report: reportArtifact.uri },
    };
  },
});
