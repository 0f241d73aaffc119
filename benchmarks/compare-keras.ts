// Benchmark: the demo task run by retrain (through Temporal, on the backend workers select) and by
// Keras (TensorFlow from PyPI) on the same data, split, architecture, weights, batch size and
// epochs, printed side by side. Run with: npm run benchmark:keras
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectClient, describeRun, startRun } from '../lib/client';
import { loadConfigFile } from '../lib/config';
import { encodeNpy } from '../lib/data/npy';
import type { ShardGroups, ShardRef } from '../lib/data/shards';
import type { PipelineRunResult } from '../lib/pipeline';
import { selectBackend } from '../lib/tf/backend';
import { loadBase } from '../lib/tf/transfer-model';
import { cacheDir, freePort, startDevServer } from '../infra/temporal-server';
import { createWorkers } from '../workers/worker';
import { installWorkerLogger } from '../workers/logging';

const root = path.resolve(__dirname, '..', '..');
const TENSORFLOW_VERSION = '2.18.1';

interface KerasResult {
  keras: string;
  featureExtraction: { seconds: number; imagesPerSecond: number };
  headTraining: { seconds: number; imagesPerSecond: number };
  fineTuning: { seconds: number; imagesPerSecond: number };
  testAccuracy: number;
  peakMemoryMiB: number;
}

/** Creates a virtual environment outside the repository with TensorFlow from PyPI, once. */
function kerasPython(): string {
  const venv = path.join(cacheDir(), 'keras-venv');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(python)) execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  const check = () => {
    try {
      execFileSync(
        python,
        ['-c', `import tensorflow as tf; assert tf.__version__ == '${TENSORFLOW_VERSION}'`],
        { stdio: 'ignore' },
      );
      return true;
    } catch {
      return false;
    }
  };
  if (!check()) {
    console.log(`Installing tensorflow-cpu ${TENSORFLOW_VERSION} into ${venv}.`);
    execFileSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--find-links',
        path.join(cacheDir(), 'wheels'),
        `tensorflow-cpu==${TENSORFLOW_VERSION}`,
      ],
      {
        stdio: 'inherit',
      },
    );
  }
  return python;
}

/** Writes each base layer's weights as .npy files, in Keras's order, for the Keras side to load. */
async function exportBaseWeights(
  uri: string,
  outputLayer: string | undefined,
  height: number,
  width: number,
  folder: string,
) {
  const { tf } = await selectBackend('inference', 'auto');
  const base = await loadBase(
    tf,
    { uri, outputLayer, preprocessing: { scale: 1, offset: 0 } },
    height,
    width,
  );
  const files: Record<string, string[]> = {};
  for (const layer of base.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    files[layer.name] = weights.map((weight, i) => {
      const file = path.join(folder, `${layer.name}-${i}.npy`);
      writeFileSync(
        file,
        encodeNpy({ dtype: 'float32', shape: weight.shape, data: weight.dataSync() as Float32Array }),
      );
      return file;
    });
  }
  return files;
}

const shardPaths = (shards: ShardRef[]) =>
  shards.map((shard) => ({
    images: fileURLToPath(shard.images.uri),
    labels: fileURLToPath(shard.labels.uri),
  }));

async function main(): Promise<void> {
  const python = kerasPython();
  const work = mkdtempSync(path.join(os.tmpdir(), 'retrain-benchmark-'));
  const base = await loadConfigFile(path.join(root, 'examples', 'fashion-mnist-demo.yaml'));
  // No baseline: Keras does not train one, and a chain of stages makes the overhead well defined.
  const config = {
    ...base,
    name: 'benchmark',
    store: path.join(work, 'artifacts'),
    baseline: { ...base.baseline, enabled: false },
  };

  const server = await startDevServer({
    dbFile: path.join(work, 'temporal.sqlite'),
    port: await freePort(),
    uiPort: await freePort(),
    logFile: path.join(work, 'temporal.log'),
  });
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  installWorkerLogger(path.join(work, 'worker.log'));
  const workers = await createWorkers({ address: server.address, queues: ['cpu', 'gpu'] });
  const running = workers.run();
  const { client, close } = await connectClient(server.address);

  const started = Date.now();
  const workflowId = await startRun(client, config);
  const result = (await client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
  const wallSeconds = (Date.now() - started) / 1000;
  const status = await describeRun(client, workflowId);
  const retrainPeakMiB = process.resourceUsage().maxRSS / 1024;
  workers.shutdown();
  await running;
  await workers.close();
  await close();
  await server.stop();

  const groups = result.stages['augment-cache'].manifest.info.shards as ShardGroups;
  const copies = Object.keys(groups)
    .filter((name) => name.startsWith('train-copy-'))
    .sort();
  const weightsFolder = path.join(work, 'base-weights');
  mkdirSync(weightsFolder);
  const spec = {
    height: config.image.height,
    width: config.image.width,
    scale: config.baseModel.preprocessing.scale,
    offset: config.baseModel.preprocessing.offset,
    dropout: config.head.dropout,
    batchSize: config.head.batchSize,
    headEpochs: config.head.epochs,
    headLearningRate: config.head.learningRate,
    fineTuneEpochs: config.fineTune.epochs,
    fineTuneLearningRate: config.fineTune.learningRate,
    trainCopies: copies.map((name) => shardPaths(groups[name])),
    validation: shardPaths(groups.validation),
    test: shardPaths(groups.test),
    baseWeights: await exportBaseWeights(
      config.baseModel.uri,
      config.baseModel.outputLayer,
      config.image.height,
      config.image.width,
      weightsFolder,
    ),
  };
  const specFile = path.join(work, 'keras-spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const kerasStarted = Date.now();
  const output = execFileSync(python, [path.join(root, 'benchmarks', 'keras_transfer.py'), specFile], {
    encoding: 'utf8',
  });
  const kerasWallSeconds = (Date.now() - kerasStarted) / 1000;
  const keras = JSON.parse(output.trim().split('\n').at(-1) as string) as KerasResult;

  const manifests = Object.fromEntries(
    Object.entries(result.stages).map(([name, stage]) => [name, stage.manifest]),
  );
  const computeSeconds = Object.values(manifests).reduce((sum, manifest) => sum + manifest.computeSeconds, 0);
  const row = (label: string, ours: number, theirs: number, unit: string) =>
    console.log(
      `  ${label.padEnd(28)} ${ours.toFixed(1).padStart(9)} ${theirs.toFixed(1).padStart(9)} ${unit.padEnd(9)} ${(ours / theirs).toFixed(2).padStart(6)}`,
    );

  console.log(
    `\nMachine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  console.log(
    `retrain backend: ${String(manifests['fine-tune'].info.backend)}; Keras ${keras.keras} with TensorFlow ${TENSORFLOW_VERSION}`,
  );
  console.log(
    `Task: ${config.dataset.classes?.join(' vs ')}, ${manifests.split.counts.train} train / ${manifests.split.counts.validation} validation / ${manifests.split.counts.test} test images, ${config.image.height}x${config.image.width}, batch ${config.head.batchSize}, ${config.head.epochs} head + ${config.fineTune.epochs} fine-tune epochs\n`,
  );
  console.log('retrain stage wall times (s):');
  for (const stage of status.stages) {
    const seconds = stage.startedAt && stage.endedAt ? (stage.endedAt - stage.startedAt) / 1000 : 0;
    console.log(
      `  ${stage.name.padEnd(15)} ${seconds.toFixed(1).padStart(7)}   compute ${manifests[stage.name].computeSeconds.toFixed(1)}`,
    );
  }
  console.log(
    `\n  ${'figure'.padEnd(28)} ${'retrain'.padStart(9)} ${'Keras'.padStart(9)} ${'unit'.padEnd(9)} ${'ratio'.padStart(6)}`,
  );
  row(
    'feature extraction',
    manifests['train-head'].metrics.featureImagesPerSecond,
    keras.featureExtraction.imagesPerSecond,
    'images/s',
  );
  row(
    'head training',
    manifests['train-head'].metrics.trainingImagesPerSecond,
    keras.headTraining.imagesPerSecond,
    'images/s',
  );
  row(
    'fine-tuning',
    manifests['fine-tune'].metrics.trainingImagesPerSecond,
    keras.fineTuning.imagesPerSecond,
    'images/s',
  );
  row('test accuracy', manifests.evaluate.metrics.accuracy * 100, keras.testAccuracy * 100, '%');
  row('peak memory', retrainPeakMiB, keras.peakMemoryMiB, 'MiB');
  row('wall time', wallSeconds, kerasWallSeconds, 's');
  const overhead = wallSeconds - computeSeconds;
  console.log(
    `\nOrchestration overhead: ${overhead.toFixed(1)} s of ${wallSeconds.toFixed(1)} s (${((overhead / wallSeconds) * 100).toFixed(1)} %): run wall time minus the sum of stage compute times.`,
  );
  console.log(
    'retrain trains the head on cached features of the frozen base; Keras runs the frozen base on every step, as the guide does.',
  );
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
