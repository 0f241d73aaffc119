// Records workflow histories of real runs as replay fixtures: a completed pipeline and one that
// fails at its first stage. Rerun it after an intentional, patched workflow change:
//   npm run build && node dist/test/record-histories.js
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { startRun } from '../lib/client';
import { parseConfig } from '../lib/config';
import { installWorkerLogger } from '../workers/logging';
import { tempDir } from './helpers/data';
import { MOBILENET_V2 } from './helpers/model';
import { startTestPipeline } from './helpers/temporal';

const fixtures = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');

async function main(): Promise<void> {
  installWorkerLogger(path.join(tempDir(), 'worker.log'));
  const pipeline = await startTestPipeline();
  const { client } = pipeline;

  const base = {
    name: 'replay',
    store: tempDir('retrain-store-'),
    dataset: {
      source: { type: 'fashion-mnist', subset: 'test' },
      classes: ['Trouser', 'Bag'],
      maxPerClass: 20,
    },
    split: { train: 50, validation: 25, test: 25 },
    image: { height: 32, width: 32 },
    augment: { copies: 1 },
    baseModel: { uri: MOBILENET_V2, outputLayer: 'out_relu' },
    head: { epochs: 1 },
    fineTune: { epochs: 1, fromLayer: 'block_16_expand' },
    baseline: { epochs: 1 },
  };
  const runs: [string, unknown][] = [
    ['completed-pipeline', base],
    ['failed-download', { ...base, dataset: { ...base.dataset, classes: ['Trouser', 'Hat'] } }],
  ];
  for (const [name, raw] of runs) {
    const workflowId = await startRun(client, parseConfig(raw));
    const handle = client.workflow.getHandle(workflowId);
    await handle.result().catch(() => undefined);
    // NOTE: @temporalio/common's historyToJSON fails here with "type must be a Type", because
    // protobufjs 8 and the JSON serializer's protobufjs 7 do not recognise each other's types.
    // The fixture is therefore protobufjs's own object form, which History.fromObject reads back.
    const history = temporal.api.history.v1.History.toObject(
      temporal.api.history.v1.History.fromObject(await handle.fetchHistory()),
      { longs: String, bytes: String },
    );
    writeFileSync(path.join(fixtures, `${name}.json`), JSON.stringify(history));
    console.log(`Recorded ${workflowId} as ${name}.json`);
  }
  await pipeline.stop();
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
