import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { classificationMetrics } from '../lib/metrics';
import { renderHtmlReport } from '../lib/report-html';
import { countColor, screenshot } from './helpers/chromium';
import { tempDir } from './helpers/data';

const BLUE: [number, number, number] = [0x1f, 0x77, 0xb4];
const GREEN: [number, number, number] = [0x2c, 0xa0, 0x2c];
const RED: [number, number, number] = [0xd6, 0x27, 0x28];

test('HTML report renders in Chromium', async () => {
  const tile = async (color: string) =>
    `data:image/png;base64,${(
      await sharp({ create: { width: 16, height: 16, channels: 3, background: color } })
        .png()
        .toBuffer()
    ).toString('base64')}`;
  const metrics = classificationMetrics(
    Float32Array.from([0.9, 0.2, 0.7, 0.4, 0.1, 0.6]),
    Int32Array.from([1, 0, 1, 1, 0, 0]),
    2,
  );
  const html = renderHtmlReport({
    pipeline: 'report-test',
    classNames: ['Cat', 'Dog'],
    counts: { train: 40, validation: 10, test: 6 },
    evaluations: { 'fine-tune': metrics, 'train-baseline': metrics },
    labels: { 'fine-tune': 'Transfer learning', 'train-baseline': 'Baseline' },
    histories: {
      'Transfer learning': {
        loss: [0.7, 0.5, 0.4],
        val_loss: [0.72, 0.6, 0.5],
        binary_accuracy: [0.5, 0.7, 0.8],
      },
    },
    skipped: [{ source: 'Cat/666.jpg', reason: 'VipsJpeg: Premature end of input file' }],
    timings: [{ stage: 'resize', seconds: 1.5, attempt: 1 }],
    configuration: { name: 'report-test', image: { height: 150, width: 150 } },
    images: [
      { dataUri: await tile('#804020'), label: 'Dog', predicted: 'Cat', confidence: 0.8 },
      { dataUri: await tile('#204080'), label: 'Cat', predicted: 'Cat', confidence: 0.9 },
    ],
  });
  assert.doesNotMatch(html, /https?:\/\//, 'the report must not load anything from the network');
  assert.match(html, /Cat\/666\.jpg/);

  const folder = tempDir();
  const file = path.join(folder, 'report.html');
  writeFileSync(file, html);
  const png = path.join(folder, 'report.png');
  screenshot(file, png);
  assert.ok(existsSync(png), 'Chromium did not write a screenshot');
  assert.ok(statSync(png).size > 10_000, 'the screenshot is nearly empty');
  assert.ok((await countColor(png, BLUE)) > 300, 'learning curves and ROC curve were not drawn');
  assert.ok((await countColor(png, RED)) > 200, 'the misclassified image border was not drawn');
  assert.ok((await countColor(png, GREEN)) > 200, 'the correct image border was not drawn');
  assert.ok((await countColor(png, [0x80, 0x40, 0x20], 10)) > 100, 'the test image itself was not drawn');
  console.log(`Report screenshot: ${png}`);
});
