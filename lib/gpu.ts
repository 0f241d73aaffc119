import { execFileSync } from 'node:child_process';

/** An NVIDIA GPU as nvidia-smi reports it. */
export interface GpuDevice {
  index: number;
  name: string;
  memoryMiB: number;
}

/** Lists NVIDIA GPUs with nvidia-smi; returns none when the tool is missing or finds no device. */
export function detectGpus(): GpuDevice[] {
  let output: string;
  try {
    output = execFileSync(
      'nvidia-smi',
      ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
      },
    );
  } catch {
    return [];
  }
  return output
    .split('\n')
    .map((line) => line.split(',').map((field) => field.trim()))
    .filter((fields) => fields.length === 3 && fields[1])
    .map(([index, name, memory]) => ({ index: Number(index), name, memoryMiB: Number(memory) }));
}
