import type { Client } from '@temporalio/client';
import { describeRun, type RunStatus } from '../lib/client';
import type { StageState } from '../lib/pipeline';
import { formatProgress } from '../lib/progress-format';

const POLL_MS = 500;
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

/**
 * Polls a run until it closes and prints its stages: redrawn in place on a terminal, one line per
 * change otherwise (logs, CI).
 */
export async function followRun(
  client: Client,
  workflowId: string,
  output: NodeJS.WriteStream = process.stdout,
): Promise<RunStatus> {
  const interactive = output.isTTY === true;
  let drawnLines = 0;
  const lastLines = new Map<string, string>();
  for (;;) {
    const status = await describeRun(client, workflowId);
    const lines = status.stages.map(formatStageLine);
    if (interactive) {
      if (drawnLines > 0) output.write(`\x1b[${drawnLines}A`);
      for (const line of lines) output.write(`\x1b[2K${line.slice(0, (output.columns ?? 120) - 1)}\n`);
      drawnLines = lines.length;
    } else {
      status.stages.forEach((stage, i) => {
        const key = `${stage.status}|${stage.progress?.epoch ?? ''}|${stage.progress?.phase ?? ''}`;
        if (lastLines.get(stage.name) !== key) {
          lastLines.set(stage.name, key);
          output.write(`${lines[i]}\n`);
        }
      });
    }
    if (TERMINAL.has(status.status)) return status;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const SYMBOLS: Record<StageState['status'], string> = {
  pending: '·',
  running: '▶',
  done: '✔',
  cached: '✔',
  failed: '✖',
  skipped: '-',
};

export function formatStageLine(stage: StageState): string {
  const name = stage.name.padEnd(15);
  const seconds =
    stage.startedAt && stage.endedAt ? ` ${((stage.endedAt - stage.startedAt) / 1000).toFixed(1)}s` : '';
  let detail = '';
  if (stage.status === 'running') {
    detail = stage.progress ? formatProgress(stage.progress) : '';
    if (stage.attempt && stage.attempt > 1) detail = `attempt ${stage.attempt} ${detail}`;
  } else if (stage.status === 'failed') {
    detail = `${stage.attempt ? `attempt ${stage.attempt}: ` : ''}${stage.failure ?? ''}`;
  }
  return `${SYMBOLS[stage.status]} ${name} ${stage.status.padEnd(8)}${seconds} ${detail}`.trimEnd();
}
