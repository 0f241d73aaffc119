import type { ReportInput } from './report';

/** A test image in the report's grid, as a PNG data URI with its true and predicted labels. */
export interface ReportImage {
  dataUri: string;
  label: string;
  predicted: string;
  confidence: number;
}

/** Content of the HTML report: the Markdown report's, plus timings, configuration and test images. */
export interface HtmlReportInput extends ReportInput {
  /** Compute seconds of each stage when it was committed. */
  timings: { stage: string; seconds: number; attempt?: number }[];
  configuration: unknown;
  images: ReportImage[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

const escape = (text: string) => text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);

/**
 * Renders a self-contained HTML report: inline SVG charts and images as data URIs, no scripts or
 * files from the network, so it opens offline from the artifact store.
 */
export function renderHtmlReport(input: HtmlReportInput): string {
  const models = Object.keys(input.evaluations);
  const metricRows = (['accuracy', 'loss', 'precision', 'recall', 'f1', 'rocAuc'] as const)
    .map(
      (key) =>
        `<tr><th>${key}</th>${models.map((model) => `<td>${input.evaluations[model][key].toFixed(4)}</td>`).join('')}</tr>`,
    )
    .join('');

  const curves = Object.entries(input.histories)
    .map(([phase, history]) => {
      const losses = Object.entries(history).filter(([name]) => name.includes('loss'));
      const accuracies = Object.entries(history).filter(([name]) => name.includes('accuracy'));
      return `<figure><figcaption>${escape(phase)}</figcaption>${lineChart('loss', losses)}${lineChart('accuracy', accuracies)}</figure>`;
    })
    .join('');

  const confusion = models
    .map((model) => {
      const matrix = input.evaluations[model].confusionMatrix;
      const max = Math.max(1, ...matrix.flat());
      const rows = matrix
        .map(
          (row, k) =>
            `<tr><th>${escape(input.classNames[k])}</th>${row
              .map(
                (value) =>
                  `<td style="background: rgba(148, 103, 189, ${(value / max).toFixed(2)})">${value}</td>`,
              )
              .join('')}</tr>`,
        )
        .join('');
      return `<table class="confusion"><caption>${escape(input.labels[model] ?? model)}</caption><tr><th>true \\ predicted</th>${input.classNames
        .map((name) => `<th>${escape(name)}</th>`)
        .join('')}</tr>${rows}</table>`;
    })
    .join('');

  const roc = rocChart(
    models
      .filter((model) => input.evaluations[model].rocCurve)
      .map((model) => [
        input.labels[model] ?? model,
        input.evaluations[model].rocCurve as [number, number][],
      ]),
  );

  const grid = input.images
    .map(
      (image) =>
        `<figure class="${image.label === image.predicted ? 'correct' : 'wrong'}"><img src="${image.dataUri}" alt="${escape(image.label)}"><figcaption>true: ${escape(
          image.label,
        )}<br>predicted: ${escape(image.predicted)} (${(image.confidence * 100).toFixed(0)}%)</figcaption></figure>`,
    )
    .join('');

  const skipped = input.skipped.length
    ? `<table><tr><th>file</th><th>reason</th></tr>${input.skipped
        .map((file) => `<tr><td>${escape(file.source)}</td><td>${escape(file.reason)}</td></tr>`)
        .join('')}</table>`
    : '<p>No image was skipped.</p>';

  const timings = input.timings
    .map(
      (timing) =>
        `<tr><td>${escape(timing.stage)}</td><td>${timing.seconds.toFixed(1)} s</td><td>${timing.attempt ?? ''}</td></tr>`,
    )
    .join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(input.pipeline)}: retrain report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 1rem 1rem 0; display: inline-table; vertical-align: top; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f4f4; text-align: left; }
figure { display: inline-block; margin: 0.5rem; vertical-align: top; }
.grid figure { width: 120px; font-size: 0.75rem; }
.grid img { width: 112px; height: 112px; image-rendering: pixelated; border: 4px solid #2ca02c; }
.grid .wrong img { border-color: #d62728; }
svg text { font-size: 11px; }
pre { background: #f8f8f8; padding: 1rem; overflow: auto; }
</style></head>
<body>
<h1>${escape(input.pipeline)}</h1>
<p>Classes: ${input.classNames.map(escape).join(', ')}. Images: ${input.counts.train ?? '?'} train, ${input.counts.validation ?? '?'} validation, ${
    input.counts.test ?? '?'
  } test; ${input.skipped.length} skipped as unreadable.</p>
<h2>Test-set metrics</h2>
<table><tr><th>metric</th>${models.map((model) => `<th>${escape(input.labels[model] ?? model)}</th>`).join('')}</tr>${metricRows}</table>
<h2>Learning curves</h2>
<div class="curves">${curves}</div>
<h2>Confusion matrices</h2>
${confusion}
<h2>ROC curve</h2>
${roc}
<h2>Test images, misclassified first</h2>
<div class="grid">${grid}</div>
<h2>Validation report</h2>
${skipped}
<h2>Stage compute times</h2>
<table><tr><th>stage</th><th>compute</th><th>attempt</th></tr>${timings}</table>
<h2>Configuration</h2>
<pre>${escape(JSON.stringify(input.configuration, null, 2))}</pre>
</body></html>
`;
}

const WIDTH = 360;
const HEIGHT = 220;
const MARGIN = 36;

function lineChart(title: string, series: [string, number[]][]): string {
  const values = series.flatMap(([, points]) => points).filter(Number.isFinite);
  if (values.length === 0) return '';
  const epochs = Math.max(...series.map(([, points]) => points.length));
  const low = Math.min(...values);
  const high = Math.max(...values) === low ? low + 1 : Math.max(...values);
  const x = (epoch: number) => MARGIN + (epochs <= 1 ? 0 : (epoch / (epochs - 1)) * (WIDTH - 2 * MARGIN));
  const y = (value: number) => HEIGHT - MARGIN - ((value - low) / (high - low)) * (HEIGHT - 2 * MARGIN);
  const lines = series
    .map(([name, points], i) => {
      const path = points
        .map((value, epoch) => `${epoch === 0 ? 'M' : 'L'}${x(epoch).toFixed(1)},${y(value).toFixed(1)}`)
        .join(' ');
      const color = COLORS[i % COLORS.length];
      return `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/><text x="${WIDTH - MARGIN}" y="${14 + 13 * i}" fill="${color}" text-anchor="end">${escape(name)}</text>`;
    })
    .join('');
  return `<svg class="chart" role="img" aria-label="${title}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">${axes(
    `${title} by epoch`,
    low.toFixed(3),
    high.toFixed(3),
  )}${lines}</svg>`;
}

function rocChart(curves: [string, [number, number][]][]): string {
  if (curves.length === 0) return '<p>ROC curves are drawn for binary tasks.</p>';
  const x = (rate: number) => MARGIN + rate * (WIDTH - 2 * MARGIN);
  const y = (rate: number) => HEIGHT - MARGIN - rate * (HEIGHT - 2 * MARGIN);
  const lines = curves
    .map(([name, points], i) => {
      const path = points
        .map(([fpr, tpr], k) => `${k === 0 ? 'M' : 'L'}${x(fpr).toFixed(1)},${y(tpr).toFixed(1)}`)
        .join(' ');
      const color = COLORS[i % COLORS.length];
      return `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/><text x="${WIDTH - MARGIN}" y="${HEIGHT - MARGIN - 8 - 13 * i}" fill="${color}" text-anchor="end">${escape(name)}</text>`;
    })
    .join('');
  const diagonal = `<path d="M${x(0)},${y(0)} L${x(1)},${y(1)}" stroke="#aaa" stroke-dasharray="4 4"/>`;
  return `<svg class="chart" role="img" aria-label="ROC curve" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">${axes(
    'true positive rate by false positive rate',
    '0',
    '1',
  )}${diagonal}${lines}</svg>`;
}

function axes(title: string, low: string, high: string): string {
  return `<text x="${MARGIN}" y="12">${escape(title)}</text><path d="M${MARGIN},${MARGIN / 2} L${MARGIN},${HEIGHT - MARGIN} L${WIDTH - MARGIN / 2},${
    HEIGHT - MARGIN
  }" stroke="#444" fill="none"/><text x="2" y="${HEIGHT - MARGIN}">${low}</text><text x="2" y="${MARGIN}">${high}</text>`;
}
