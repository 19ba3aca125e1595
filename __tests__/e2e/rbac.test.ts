// manifests/rbac.yaml is enough, and needed: the bundle passes end to end (process mode, metric
// scenario) as a user bound to only the roles the file names for process mode, and Karpenter's
// process runs with that user's kubeconfig too.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyObject, deleteObject, readManifests } from '../../src/kube/apply.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import type { Results } from '../../src/evidence/model.js';
import { bedKube, snapshot, type ClusterSnapshot } from '../support/cluster.js';
import { makeRunnerDirs, ROOT, runAction } from '../support/harness.js';
import { userKubeconfig } from '../support/users.js';

const USER = 'gac-rbac-ci';
const PROCESS_ROLES = ['gpu-autoscaling-conformance', 'gpu-autoscaling-conformance-karpenter'];
const cache = process.env.GAC_CACHE ?? path.join(os.homedir(), '.cache', 'gpu-autoscaling-conformance');

let bed: Bed;
let tmp: string;
let created: k8s.KubernetesObject[] = [];
let before: ClusterSnapshot;

const binding = (role: string): k8s.KubernetesObject & Record<string, unknown> => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: `${role}-${USER}` },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }],
});

beforeAll(async () => {
  bed = loadBed();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-rbac-'));
  const admin = bedKube(bed.kubeconfig);
  before = await snapshot(admin);
  const roles = readManifests(path.join(ROOT, 'manifests', 'rbac.yaml')).filter((o) => PROCESS_ROLES.includes(o.metadata!.name!));
  expect(roles.map((r) => r.metadata!.name).sort()).toEqual(PROCESS_ROLES);
  created = [...roles, ...PROCESS_ROLES.map(binding)];
  for (const o of created) await applyObject(admin, o);
});

afterAll(async () => {
  const admin = bedKube(bed.kubeconfig);
  for (const o of [...created].reverse()) await deleteObject(admin, o as never);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('RBAC', () => {
  it('a user with only the process-mode roles of manifests/rbac.yaml runs the whole chain', async () => {
    const kubeconfig = userKubeconfig(bed, USER, tmp);
    const dirs = makeRunnerDirs(path.join(tmp, 'runner'));
    const r = await runAction({
      inputs: { kubeconfig, 'karpenter-mode': 'process', 'max-replicas': '2', 'evidence-dir': path.join(dirs.temp, 'evidence') },
      toolCache: path.join(cache, 'toolcache'),
      dirs,
    });
    if (r.main.code !== 0) console.log(r.main.stdout.slice(-5000));
    expect(r.outputs).toMatchObject({ result: 'pass', 'failed-stage': '' });
    expect(r.main.stdout).toMatch(/preflight: pass in .* permissions allowed/);
    // The roles are RBAC's, which a rules review lists in full: one request settles every permission.
    const results = JSON.parse(fs.readFileSync(path.join(dirs.temp, 'evidence', 'results.json'), 'utf8')) as Results;
    const permissions = results.stages.find((s) => s.name === 'preflight')!.evidence.find((e) => e.title.startsWith('Permissions'))!;
    expect(permissions.output).toMatch(/^(\d+)\/\1 allowed \(1 review request\(s\)\)$/);
    expect(r.post.code).toBe(0);
    expect(await snapshot(bedKube(bed.kubeconfig))).toEqual(before);
  });
});
