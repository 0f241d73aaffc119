import type { StageProgress } from '../pipeline';
import { selectBackend, type BackendPreference, type ComputeRole, type SelectedBackend } from '../tf/backend';
import { registerConvGradientKernels } from '../tf/conv-gradients';

/** Callbacks through which a compute job reports to the activity that runs it. */
export interface JobContext {
  progress(progress: StageProgress, resume?: unknown): void;
  log(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Selects the backend for a job and logs it. Non-native backends get the convolution gradient
 * kernels that TensorFlow.js lacks or runs slowly there.
 */
export async function initBackend(
  context: JobContext,
  role: ComputeRole,
  preference: BackendPreference,
): Promise<SelectedBackend> {
  const selected = await selectBackend(role, preference);
  if (!selected.info.native) registerConvGradientKernels(selected.tf, selected.info.backend);
  context.log('TensorFlow.js backend selected', { ...selected.info, role });
  return selected;
}
