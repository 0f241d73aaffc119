import type { Client } from '@temporalio/client';
import type { RunStatus } from '../lib/client';
import type { PipelineRunResult } from '../lib/pipeline';

const THROUGHPUT: [stage: string, metric: string, label: string][] = [
  ['train-head', 'featureImagesPerSecond', 'feature extraction'],
  ['train-head', 'trainingImagesPerSecond', 'head training'],
  ['fine-tune', 'trainingImagesPerSecond', 'fine-tuning'],
  ['train-baseline', 'trainingImagesPerSecond', 'baseline training'],
];

/**
 * Prints what a completed run produced: each stage's wall time, training throughput, the test-set
 * metrics of every evaluated model, and where to find the report and the run in the Web UI.
 */
export async function printRunSummary(
  client: Client,
  status: RunStatus,
  uiUrl: string | undefined,
): Promise<void> {
  const result = (await client.workflow.getHandle(status.workflowId).result()) as PipelineRunResult;

  console.log('Stage wall times:');
  for (const stage of status.stages) {
    const seconds = stage.startedAt && stage.endedAt ? (stage.endedAt - stage.startedAt) / 1000 : 0;
    console.log(`  ${stage.name.padEnd(15)} ${seconds.toFixed(1).padStart(7)} s  ${stage.status}`);
  }

  const throughput = THROUGHPUT.filter(([stage, metric]) => result.stages[stage]?.manifest.metrics[metric]);
  if (throughput.length > 0) {
    console.log('\nThroughput (images/s; 0 means the work came from a cache or checkpoint):');
    for (const [stage, metric, label] of throughput) {
      const backend = result.stages[stage].manifest.info.backend;
      const where = typeof backend === 'string' ? ` on ${backend}` : '';
      console.log(
        `  ${label.padEnd(19)} ${result.stages[stage].manifest.metrics[metric].toFixed(1).padStart(8)}${where}`,
      );
    }
  }

  const evaluation = result.stages.evaluate.manifest;
  const metrics = evaluation.metrics;
  console.log('\nTest-set metrics of the fine-tuned model:');
  for (const name of ['accuracy', 'loss', 'precision', 'recall', 'f1', 'rocAuc']) {
    console.log(`  ${name.padEnd(10)} ${metrics[name].toFixed(4)}`);
  }
  console.log('Test accuracy of each model:');
  for (const [name, value] of Object.entries(metrics).filter(([key]) => key.endsWith(':accuracy'))) {
    console.log(`  ${name.replace(':accuracy', '').padEnd(15)} ${value.toFixed(4)}`);
  }

  console.log(`\nWorkflow id: ${status.workflowId}`);
  const promotion = result.stages.promote?.manifest;
  if (promotion)
    console.log(
      `Promotion:   ${promotion.info.promoted ? 'promoted' : 'not promoted'} (${String(promotion.info.reason)})`,
    );
  const report =
    promotion?.artifacts['report.html'] ??
    evaluation.artifacts['report.html'] ??
    evaluation.artifacts['report.md'];
  console.log(`Report:      ${report.uri}`);
  if (uiUrl) console.log(`Web UI:      ${uiUrl}/namespaces/default/workflows/${status.workflowId}`);
}
