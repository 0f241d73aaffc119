import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import sharp from 'sharp';
import { tempDir } from './data';

/**
 * Renders a local HTML file in headless Chromium (Debian's /usr/bin/chromium) and saves a PNG
 * screenshot. The flags keep Chromium off the network: no background requests, no updates.
 */
export function screenshot(htmlFile: string, output: string, height = 3000): void {
  execFileSync(
    '/usr/bin/chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      `--user-data-dir=${tempDir('retrain-chromium-')}`,
      `--window-size=1280,${height}`,
      `--screenshot=${output}`,
      `file://${path.resolve(htmlFile)}`,
    ],
    { stdio: 'ignore', timeout: 60_000 },
  );
}

/** Counts the screenshot's pixels close to a colour, to tell whether a chart or border was drawn. */
export async function countColor(
  png: string,
  [r, g, b]: [number, number, number],
  tolerance = 30,
): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let count = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (
      Math.abs(data[i] - r) <= tolerance &&
      Math.abs(data[i + 1] - g) <= tolerance &&
      Math.abs(data[i + 2] - b) <= tolerance
    )
      count++;
  }
  return count;
}
