// A Karpenter installation the run did not make (here a Deployment labelled as Karpenter's
// chart labels it, with another owner): the installing modes stop in preflight before any
// change, naming it and pointing to existing mode; existing mode records it as left untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kube } from '../../src/kube/client.js';
import { runStages } from '../../src/runner.js';
import { preflightStage } from '../../src/stages/preflight.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedKube, deleteNamespaces } from '../support/cluster.js';
import { bedConfig, suffix } from './stages-lib.js';

let bed: Bed;
let kube: Kube;
const ns = `gac-foreign-${suffix()}`;

beforeAll(async () => {
  bed = loadBed();
  kube = bedKube(bed.kubeconfig);
  await kube.core.createNamespace({ body: { metadata: { name: ns } } });
  await kube.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'karpenter', labels: { 'app.kubernetes.io/name': 'karpenter', 'app.kubernetes.io/managed-by': 'Helm' } },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'platform-karpenter' } },
        template: {
          metadata: { labels: { app: 'platform-karpenter' } },
          spec: { containers: [{ name: 'controller', image: 'example.invalid/karpenter:v1' }] },
        },
      },
    },
  });
});

// Gone before the next file takes its snapshot of the cluster.
afterAll(() => deleteNamespaces(kube, [ns]));

describe('a Karpenter installation the run did not make', () => {
  it('stops a process-mode run in preflight, naming it, with nothing changed', async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', stages: 'preflight,karpenter-install,cleanup' });
    const r = await runStages([preflightStage], config);
    const pre = r.records[0]!;
    expect(pre.status).toBe('fail');
    expect(pre.message).toContain(`Deployment ${ns}/karpenter (managed by Helm)`);
    expect(pre.message).toContain('karpenter-mode: existing');
    expect(pre.evidence.find((e) => e.title.startsWith('Karpenter objects that existed before the run'))?.output).toContain(`Deployment ${ns}/karpenter`);
    // Untouched: same generation, no label of the run added.
    const dep = await kube.apps.readNamespacedDeployment({ name: 'karpenter', namespace: ns });
    expect(dep.metadata?.generation).toBe(1);
    expect(Object.keys(dep.metadata?.labels ?? {})).toEqual(['app.kubernetes.io/managed-by', 'app.kubernetes.io/name']);
    expect(r.run.appliedClusterObjects).toEqual([]);
  });

  it('is recorded as left untouched by an existing-mode preflight, which goes on', async () => {
    const config = bedConfig(bed, { 'karpenter-mode': 'existing', stages: 'preflight,karpenter-install,cleanup' });
    const r = await runStages([preflightStage], config);
    const pre = r.records[0]!;
    expect(pre.status, pre.message).toBe('pass');
    expect(pre.message).toMatch(/installed Karpenter found \(\d+ objects, left untouched\)/);
  });
});
