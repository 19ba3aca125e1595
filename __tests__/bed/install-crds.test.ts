// Karpenter's CRDs are stored as their files say: the apply sends the object as written, so the
// schema keeps every default, enum and validation rule, and a NodePool without a disruption
// block gets the defaults the CRD gives it.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyObject, deleteObject, parseManifests, readObject, type ObjectRef } from '../../src/kube/apply.js';
import type { Kube } from '../../src/kube/client.js';
import { getJson } from '../../src/kube/raw.js';
import { downloadModule } from '../../src/tools/gomod.js';
import { crdSources, KARPENTER_MODULE } from '../../src/tools/karpenter.js';
import { which } from '../../src/tools/which.js';
import { loadBed } from '../../testbed/lib/bed.js';
import { bedKube, deleteClusterObjects } from '../support/cluster.js';
import { installEnv } from '../support/install-env.js';
import { suffix } from './stages-lib.js';

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { versions: { name: string; schema: { openAPIV3Schema: unknown } }[] };
}

/** How many times each key occurs anywhere in a schema. Pure. */
function keyCounts(schema: unknown, keys: string[]): Record<string, number> {
  const counts = Object.fromEntries(keys.map((k) => [k, 0]));
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k in counts) counts[k]!++;
        walk(child);
      }
    }
  };
  walk(schema);
  return counts;
}

const KEYS = ['default', 'x-kubernetes-validations', 'enum', 'pattern', 'maxItems'];
let kube: Kube;
let crds: Crd[];
const created: ObjectRef[] = [];

beforeAll(async () => {
  kube = bedKube(loadBed().kubeconfig);
  installEnv();
  const mod = await downloadModule(which('go')!, KARPENTER_MODULE, 'v1.8.0');
  crds = crdSources(mod.Dir).flatMap((f) => parseManifests(readFileSync(f, 'utf8'), f)) as unknown as Crd[];
  for (const crd of crds) {
    const ref = { apiVersion: crd.apiVersion, kind: crd.kind, metadata: { name: crd.metadata.name } };
    if (!(await readObject(kube, ref))) created.push(ref);
    await applyObject(kube, crd as never);
  }
});

afterAll(async () => {
  // Gone, not only deleted: a CRD outlives its DELETE until its finalizer ran, and the next file's
  // preflight would find it (as a Karpenter installation it did not make).
  await deleteClusterObjects(kube, created);
});

describe('Karpenter CRDs applied as their files say', () => {
  it('stores every default, validation rule and enum of each schema', async () => {
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      'kwoknodeclasses.karpenter.kwok.sh',
      'nodeclaims.karpenter.sh',
      'nodeoverlays.karpenter.sh',
      'nodepools.karpenter.sh',
    ]);
    for (const crd of crds) {
      const stored = await getJson<Crd>(kube, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      for (const version of crd.spec.versions) {
        const want = version.schema.openAPIV3Schema;
        const got = stored.spec.versions.find((v) => v.name === version.name)!.schema.openAPIV3Schema;
        expect(keyCounts(got, KEYS), `${crd.metadata.name} ${version.name}`).toEqual(keyCounts(want, KEYS));
        expect(JSON.stringify(got).length, `${crd.metadata.name} ${version.name} schema size`).toBe(JSON.stringify(want).length);
      }
    }
    // The schema that lost most before: nodepools carries 6 defaults and 9 validation rules in v1.8.0.
    const nodepools = crds.find((c) => c.metadata.name === 'nodepools.karpenter.sh')!;
    expect(keyCounts(nodepools.spec.versions[0]!.schema.openAPIV3Schema, KEYS)).toMatchObject({ default: 6, 'x-kubernetes-validations': 9 });
  });

  it('gives a NodePool without a disruption block the CRD defaults', async () => {
    const name = `no-disruption-${suffix()}`;
    const pool = {
      apiVersion: 'karpenter.sh/v1',
      kind: 'NodePool',
      metadata: { name },
      spec: { template: { spec: { nodeClassRef: { group: 'karpenter.kwok.sh', kind: 'KWOKNodeClass', name: 'default' }, requirements: [] } } },
    };
    try {
      const stored = (await applyObject(kube, pool as never)) as unknown as { spec: { disruption: Record<string, unknown> } };
      expect(stored.spec.disruption).toEqual({ consolidateAfter: '0s', consolidationPolicy: 'WhenEmptyOrUnderutilized', budgets: [{ nodes: '10%' }] });
    } finally {
      await deleteObject(kube, pool);
    }
  });

  it("rejects a NodePool Karpenter's own validation rules reject", async () => {
    const pool = {
      apiVersion: 'karpenter.sh/v1',
      kind: 'NodePool',
      metadata: { name: `bad-${suffix()}` },
      spec: {
        template: {
          spec: {
            nodeClassRef: { group: 'karpenter.kwok.sh', kind: 'KWOKNodeClass', name: 'default' },
            // a restricted label domain: the CRD's x-kubernetes-validations forbid it
            requirements: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['x'] }],
          },
        },
      },
    };
    await expect(applyObject(kube, pool as never)).rejects.toThrow(/HTTP 422/);
  });
});
