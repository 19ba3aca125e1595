// What the ko modes install, rendered from the real chart of the Karpenter module with the real
// Helm and the exact values the action passes: the image and its pull policy, the instance types
// mounted where INSTANCE_TYPES_FILE_PATH says, and every feature gate with a value (an empty one
// makes Karpenter panic at start). The pods themselves run on the kind cluster (__tests__/kind).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { run } from '../../src/tools/exec.js';
import { downloadModule } from '../../src/tools/gomod.js';
import { chartFeatureGates, INSTANCE_TYPES_CONFIGMAP, INSTANCE_TYPES_MOUNT, karpenterValues } from '../../src/karpenter/values.js';
import { copyTree, KARPENTER_MODULE, parseImageRef } from '../../src/tools/karpenter.js';
import { which } from '../../src/tools/which.js';
import { bin, loadBed, type Bed } from '../../testbed/lib/bed.js';
import { installEnv } from '../support/install-env.js';

let bed: Bed;
let temp: string;
let chart: string;

interface Deployment {
  kind: string;
  spec: {
    template: {
      spec: {
        containers: { image: string; imagePullPolicy: string; env: { name: string; value?: string }[]; volumeMounts?: { name: string; mountPath: string }[] }[];
        volumes?: { name: string; configMap?: { name: string } }[];
      };
    };
  };
}

async function render(values: Record<string, unknown>): Promise<Deployment> {
  const file = join(temp, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify(values));
  const { stdout } = await run(bin(bed, 'helm'), ['template', 'karpenter', chart, '--namespace', 'kube-system', '--values', file]);
  const docs = parseAllDocuments(stdout).map((d) => d.toJS() as { kind?: string });
  return docs.find((d) => d?.kind === 'Deployment') as Deployment;
}

beforeAll(async () => {
  bed = loadBed();
  temp = installEnv();
  const mod = await downloadModule(which('go')!, KARPENTER_MODULE, 'v1.8.0');
  chart = join(temp, 'chart');
  copyTree(join(mod.Dir, 'kwok/charts'), chart);
});
afterAll(() => {
  if (temp) rmSync(temp, { recursive: true, force: true });
});

const gates = () => chartFeatureGates(readFileSync(join(chart, 'templates/deployment.yaml'), 'utf8'), readFileSync(join(chart, 'values.yaml'), 'utf8'));

describe('kind mode: the chart as Helm renders it with the kind values', () => {
  it('gives every feature gate the template renders a value (v1.8.0 has no default for StaticCapacity)', async () => {
    expect(gates()).toEqual({ staticCapacity: false, spotToSpotConsolidation: false, nodeRepair: false });
    const image = parseImageRef('kind.local/kwok:6d1c0f4bd7a1f5e0ac7f');
    const bare = (await render(karpenterValues({ image, pullPolicy: 'Never', featureGates: {} }))).spec.template.spec.containers[0]!;
    // Without the action's values the chart renders an empty gate: the panic of issue 13.
    expect(bare.env.find((e) => e.name === 'FEATURE_GATES')?.value).toContain('StaticCapacity=,');
    const c = (await render(karpenterValues({ image, pullPolicy: 'Never', featureGates: gates() }))).spec.template.spec.containers[0]!;
    expect(c.env.find((e) => e.name === 'FEATURE_GATES')?.value).toBe('StaticCapacity=false,SpotToSpotConsolidation=false,NodeRepair=false');
  });

  it('runs the side-loaded ko image, never pulled, with the instance types mounted', async () => {
    // What ko's kind publisher prints for KO_DOCKER_REPO=kind.local: a tag, no digest.
    const image = parseImageRef('kind.local/kwok:6d1c0f4bd7a1f5e0ac7f');
    const dep = await render(karpenterValues({ image, pullPolicy: 'Never', featureGates: gates() }));
    const c = dep.spec.template.spec.containers[0]!;
    expect(c.image).toBe('kind.local/kwok:6d1c0f4bd7a1f5e0ac7f');
    expect(c.imagePullPolicy).toBe('Never');
    expect(c.env).toContainEqual({ name: 'INSTANCE_TYPES_FILE_PATH', value: `${INSTANCE_TYPES_MOUNT}/instance-types.json` });
    expect(c.volumeMounts).toContainEqual(expect.objectContaining({ name: 'instance-types', mountPath: INSTANCE_TYPES_MOUNT }));
    expect(dep.spec.template.spec.volumes).toContainEqual({ name: 'instance-types', configMap: { name: INSTANCE_TYPES_CONFIGMAP } });
  });

  it('registry mode pins the pushed digest and pulls if not present', async () => {
    const dep = await render(
      karpenterValues({ image: parseImageRef(`ghcr.io/org/karpenter/kwok@sha256:${'a'.repeat(64)}`), pullPolicy: 'IfNotPresent', featureGates: gates() }),
    );
    const c = dep.spec.template.spec.containers[0]!;
    expect(c.image).toBe(`ghcr.io/org/karpenter/kwok:latest@sha256:${'a'.repeat(64)}`);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
  });
});
