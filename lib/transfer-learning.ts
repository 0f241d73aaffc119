import type { PipelineConfig } from './config';
import type { PipelineSpec, StageSpec } from './pipeline';

const HOUR = 3600;

/**
 * Builds the transfer-learning DAG from a configuration:
 * download → split → resize → augment-cache → train-head → fine-tune → evaluate, plus a
 * from-scratch baseline that trains beside train-head when enabled, and a promotion gate after
 * evaluate when configured. Data stages go to the CPU
 * task queue; training and evaluation go to the GPU task queue.
 */
export function transferLearningPipeline(config: PipelineConfig): PipelineSpec {
  const { cpuTaskQueue, gpuTaskQueue, heartbeatTimeoutSeconds, maximumAttempts } = config.temporal;
  const stage = (
    name: string,
    activity: string,
    dependsOn: string[],
    queue: 'cpu' | 'gpu',
    params: unknown,
    timeoutHours: number,
  ): StageSpec => ({
    name,
    activity,
    dependsOn,
    taskQueue: queue === 'cpu' ? cpuTaskQueue : gpuTaskQueue,
    params,
    startToCloseTimeoutSeconds: timeoutHours * HOUR,
    heartbeatTimeoutSeconds,
    maximumAttempts,
  });
  const seed = config.split.seed;
  const stages: StageSpec[] = [
    stage('download', 'download', [], 'cpu', config.dataset, 2),
    stage('split', 'split', ['download'], 'cpu', config.split, 1),
    { ...stage('resize', 'resize', ['download', 'split'], 'cpu', config.image, 4), fanOut: config.fanOut },
    {
      ...stage('augment-cache', 'augmentCache', ['resize'], 'cpu', config.augment, 4),
      fanOut: config.fanOut,
    },
    stage(
      'train-head',
      'trainHead',
      ['augment-cache'],
      'gpu',
      { head: config.head, baseModel: config.baseModel, backend: config.backend, seed },
      12,
    ),
    stage(
      'fine-tune',
      'fineTune',
      ['augment-cache', 'train-head'],
      'gpu',
      {
        fineTune: config.fineTune,
        dropout: config.head.dropout,
        baseModel: config.baseModel,
        backend: config.backend,
        seed,
      },
      24,
    ),
  ];
  const evaluateInputs = ['download', 'split', 'augment-cache', 'resize', 'train-head', 'fine-tune'];
  if (config.baseline.enabled) {
    stages.push(
      stage(
        'train-baseline',
        'trainBaseline',
        ['augment-cache'],
        'gpu',
        { baseline: config.baseline, backend: config.backend, seed },
        12,
      ),
    );
    evaluateInputs.push('train-baseline');
  }
  stages.push(
    stage(
      'evaluate',
      'evaluate',
      evaluateInputs,
      'gpu',
      { backend: config.backend, pipeline: config.name, configuration: config },
      2,
    ),
  );
  if (config.promotion) {
    const params = { promotion: config.promotion, pipeline: config.name, backend: config.backend };
    stages.push(stage('promote', 'promote', ['evaluate', 'fine-tune', 'augment-cache'], 'gpu', params, 2));
  }
  return { name: config.name, stages };
}
