import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';

const folder = path.resolve(__dirname, '..', '..', 'infra', 'k8s');

/** Model classes for the kinds the manifests use; each validates against the Kubernetes JSON schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment as never,
  'v1/ConfigMap': ConfigMap as never,
  'v1/Secret': Secret as never,
};

function manifests(): { file: string; document: Record<string, unknown> }[] {
  return readdirSync(folder)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(folder, file), 'utf8')).map((document) => ({
        file,
        document: document.toJS() as Record<string, unknown>,
      })),
    );
}

test('kubernetes manifests match schemas', () => {
  const documents = manifests();
  assert.ok(documents.length >= 4);
  for (const { file, document } of documents) {
    const model = MODELS[`${document.apiVersion}/${document.kind}`];
    assert.ok(model, `${file}: no schema for ${document.apiVersion} ${document.kind}`);
    assert.doesNotThrow(
      () => new model(document as never).validate(),
      `${file} does not match the ${document.kind} schema`,
    );
  }
});

test('schema check rejects broken manifest', () => {
  const broken = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: { replicas: 'two', template: {} },
  };
  assert.throws(() => new Deployment(broken as never).validate(), /selector/);
});

test('worker deployments stop gracefully and get GPUs', () => {
  const deployments = manifests()
    .filter(({ document }) => document.kind === 'Deployment')
    .map(
      ({ document }) =>
        document as { metadata: { name: string }; spec: { template: { spec: Record<string, unknown> } } },
    );
  assert.deepEqual(deployments.map((deployment) => deployment.metadata.name).sort(), [
    'retrain-cpu-worker',
    'retrain-gpu-worker',
  ]);
  for (const deployment of deployments) {
    const pod = deployment.spec.template.spec as { terminationGracePeriodSeconds: number };
    // Heartbeat timeout (30 s by default) plus the worker's shutdown grace time (10 s).
    assert.ok(pod.terminationGracePeriodSeconds > 40, `${deployment.metadata.name} stops too fast`);
  }
  const gpu = deployments.find((deployment) => deployment.metadata.name === 'retrain-gpu-worker')?.spec
    .template.spec as {
    nodeSelector: Record<string, string>;
    tolerations: { key: string }[];
    containers: { resources: { limits: Record<string, unknown> } }[];
  };
  assert.equal(gpu.containers[0].resources.limits['nvidia.com/gpu'], 1);
  assert.ok(gpu.tolerations.some((toleration) => toleration.key === 'nvidia.com/gpu'));
  assert.ok(Object.keys(gpu.nodeSelector).length > 0);
});
