import type { ClassificationMetrics } from './metrics';

export interface ReportInput {
  pipeline: string;
  classNames: string[];
  counts: Record<string, number>;
  evaluations: Record<string, ClassificationMetrics>;
  /** Human-readable name of each evaluated model, by key. */
  labels: Record<string, string>;
  histories: Record<string, Record<string, number[]>>;
  skipped: { source: string; reason: string }[];
}

const METRICS: [keyof ClassificationMetrics, string][] = [
  ['accuracy', 'Accuracy'],
  ['loss', 'Loss'],
  ['precision', 'Precision'],
  ['recall', 'Recall'],
  ['f1', 'F1'],
  ['rocAuc', 'ROC AUC'],
];

/** Renders the evaluation as a Markdown report: a comparison table, confusion matrices and learning curves. */
export function renderMarkdownReport(input: ReportInput): string {
  const models = Object.keys(input.evaluations);
  const lines: string[] = [`# ${input.pipeline}: test-set evaluation`, ''];
  lines.push(`Classes: ${input.classNames.join(', ')}.`);
  lines.push(
    `Images: ${input.counts.train ?? '?'} train, ${input.counts.validation ?? '?'} validation, ${input.counts.test ?? '?'} test` +
      (input.skipped.length > 0 ? `; ${input.skipped.length} skipped as unreadable.` : '.'),
    '',
  );

  lines.push(`| Metric | ${models.map((model) => input.labels[model] ?? model).join(' | ')} |`);
  lines.push(`|---|${models.map(() => '---:').join('|')}|`);
  for (const [key, title] of METRICS) {
    lines.push(
      `| ${title} | ${models.map((model) => (input.evaluations[model][key] as number).toFixed(4)).join(' | ')} |`,
    );
  }
  lines.push('');

  const ranked = [...models].sort((a, b) => input.evaluations[b].accuracy - input.evaluations[a].accuracy);
  const best = ranked[0];
  const runnerUp = ranked[1];
  if (runnerUp) {
    const gap = (input.evaluations[best].accuracy - input.evaluations[runnerUp].accuracy) * 100;
    lines.push(
      `Best test accuracy: ${input.labels[best] ?? best}, ${gap.toFixed(1)} points ahead of ${input.labels[runnerUp] ?? runnerUp}.`,
      '',
    );
  }

  for (const model of models) {
    lines.push(`## Confusion matrix: ${input.labels[model] ?? model}`, '');
    lines.push(`| true \\ predicted | ${input.classNames.join(' | ')} |`);
    lines.push(`|---|${input.classNames.map(() => '---:').join('|')}|`);
    input.evaluations[model].confusionMatrix.forEach((row, k) =>
      lines.push(`| ${input.classNames[k]} | ${row.join(' | ')} |`),
    );
    lines.push('');
  }

  for (const [phase, history] of Object.entries(input.histories)) {
    lines.push(`## Learning curve: ${phase}`, '');
    const names = Object.keys(history);
    lines.push(`| epoch | ${names.join(' | ')} |`);
    lines.push(`|---:|${names.map(() => '---:').join('|')}|`);
    const epochs = Math.max(0, ...names.map((name) => history[name].length));
    for (let epoch = 0; epoch < epochs; epoch++) {
      lines.push(
        `| ${epoch + 1} | ${names.map((name) => history[name][epoch]?.toFixed(4) ?? '').join(' | ')} |`,
      );
    }
    lines.push('');
  }

  if (input.skipped.length > 0) {
    lines.push('## Skipped images', '');
    for (const file of input.skipped) lines.push(`- ${file.source}: ${file.reason}`);
    lines.push('');
  }
  return lines.join('\n');
}
