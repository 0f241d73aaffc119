import type { StageProgress } from './pipeline';

const BAR_WIDTH = 20;

/**
 * Formats training progress the way Keras's fit() prints it:
 * `25/25 ━━━━━━━━━━━━━━━━━━━━ 4s 160ms/step - binary_accuracy: 0.8482 - loss: 0.3200`.
 */
export function formatKerasProgress(progress: StageProgress): string {
  const steps = progress.steps ?? 0;
  const step = progress.step ?? 0;
  const filled = steps > 0 ? Math.round((BAR_WIDTH * step) / steps) : 0;
  const bar = '━'.repeat(filled) + '─'.repeat(BAR_WIDTH - filled);
  const elapsedMs = progress.elapsedMs ?? 0;
  const perStep = step > 0 ? `${Math.round(elapsedMs / step)}ms/step` : '';
  const metrics = Object.entries(progress.metrics ?? {})
    .map(([name, value]) => ` - ${name}: ${value.toFixed(4)}`)
    .join('');
  return `${step}/${steps} ${bar} ${Math.round(elapsedMs / 1000)}s ${perStep}${metrics}`;
}

/** Formats one stage's progress for a status line: epoch bars for training, a percentage otherwise. */
export function formatProgress(progress: StageProgress): string {
  const prefix = progress.epoch !== undefined ? `Epoch ${progress.epoch}/${progress.epochs} ` : '';
  if (progress.steps !== undefined) return `${progress.phase}: ${prefix}${formatKerasProgress(progress)}`;
  const percent = progress.fraction !== undefined ? ` ${Math.round(progress.fraction * 100)}%` : '';
  return `${progress.phase}${percent}${progress.message ? ` ${progress.message}` : ''}`;
}
