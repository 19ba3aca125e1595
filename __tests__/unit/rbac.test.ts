// manifests/rbac.yaml against (1) every permission the preflight requires, for every mode and
// scenario, evaluated as the RBAC authorizer does; and (2) the RBAC of the charts Helm installs,
// which RBAC only lets an identity create when it holds every rule itself (escalation check).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { describePermission, rulesAllow, unsettledByRules, type AccessRequest, type Permission, type PolicyRule } from '../../src/checks/permissions.js';
import { permissionsFor } from '../../src/karpenter/index.js';
import { INPUT_DEFAULTS } from '../../src/defaults.js';
import { configFrom } from '../../src/inputs.js';
import { downloadModule } from '../../src/tools/gomod.js';
import { KARPENTER_MODES, SCENARIOS, type KarpenterMode } from '../../src/types.js';
import { versions } from '../../testbed/lib/config.js';

const root = path.resolve(import.meta.dirname, '../..');
process.env.GAC_ACTION_ROOT = root;
const env = { RUNNER_TEMP: fs.mkdtempSync(path.join(os.tmpdir(), 'rbac-')) };

const allows = rulesAllow;

/** The rules of the RBAC objects in YAML text (Helm template lines dropped), by kind/name. */
function rbacObjects(text: string): { kind: string; name: string; rules: PolicyRule[] }[] {
  const plain = text
    .split('\n')
    .filter((l) => !/^\s*\{\{.*\}\}\s*$/.test(l)) // whole-line template directives
    .map((l) => l.replace(/\{\{[^}]*\}\}/g, 'x')) // inline ones (names, labels)
    .join('\n');
  return parseAllDocuments(plain)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; rules?: PolicyRule[] } | null)
    .filter((o): o is { kind: string; metadata?: { name?: string }; rules?: PolicyRule[] } => !!o && (o.kind === 'ClusterRole' || o.kind === 'Role'))
    .map((o) => ({ kind: o.kind, name: o.metadata?.name ?? '', rules: o.rules ?? [] }));
}

const manifest = rbacObjects(fs.readFileSync(path.join(root, 'manifests/rbac.yaml'), 'utf8'));
const role = (name: string): PolicyRule[] => {
  const r = manifest.find((o) => o.kind === 'ClusterRole' && o.name === name);
  if (!r) throw new Error(`manifests/rbac.yaml has no ClusterRole ${name}`);
  return r.rules;
};
const BASE = 'gpu-autoscaling-conformance';
const KARPENTER = 'gpu-autoscaling-conformance-karpenter';
const HELM = 'gpu-autoscaling-conformance-helm';
/** The ClusterRoles docs/rbac.md tells users to bind, per mode. */
const ROLES_FOR: Record<KarpenterMode, string[]> = {
  existing: [BASE],
  process: [BASE, KARPENTER],
  kind: [BASE, KARPENTER, HELM],
  registry: [BASE, KARPENTER, HELM],
};
const rulesFor = (mode: KarpenterMode): PolicyRule[] => ROLES_FOR[mode].flatMap(role);

const inputsFor = (mode: KarpenterMode, scenario: string): Record<string, string> => ({
  'karpenter-mode': mode,
  scenario,
  ...(mode === 'registry' ? { 'image-repository': 'registry.example/karpenter-kwok' } : {}),
});
const toRequest = (p: Permission): AccessRequest => ({ verb: p.verb, group: p.group, resource: p.resource, subresource: p.subresource });

describe('the RBAC evaluation', () => {
  it('matches verbs, groups, resources, subresources and resourceNames as the authorizer does', () => {
    const rules: PolicyRule[] = [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['*'], verbs: ['list'] },
      { apiGroups: ['*'], resources: ['*/scale'], verbs: ['*'] },
      { apiGroups: [''], resources: ['services'], resourceNames: ['kube-dns'], verbs: ['get'] },
    ];
    expect(allows(rules, { verb: 'get', group: '', resource: 'pods' })).toBe(true);
    expect(allows(rules, { verb: 'list', group: '', resource: 'pods' })).toBe(false);
    expect(allows(rules, { verb: 'get', group: '', resource: 'pods', subresource: 'log' })).toBe(false);
    expect(allows(rules, { verb: 'list', group: 'apps', resource: 'deployments', subresource: 'status' })).toBe(true);
    expect(allows(rules, { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale' })).toBe(true);
    expect(allows(rules, { verb: 'get', group: '', resource: 'services' })).toBe(false);
    expect(allows(rules, { verb: 'get', group: '', resource: 'services', name: 'kube-dns' })).toBe(true);
  });

  it('asks an access review for every permission a complete rules review does not show as allowed, and for all when it is incomplete', () => {
    const perms = permissionsFor(configFrom(inputsFor('process', 'metric'), env), 'ns');
    const base = role(BASE);
    const missing = perms.filter((p) => !allows(base, toRequest(p)));
    expect(missing.length).toBeGreaterThan(0); // process mode needs the Karpenter role too
    expect(unsettledByRules(perms, { incomplete: false, resourceRules: base })).toEqual(missing);
    expect(unsettledByRules(perms, { incomplete: false, resourceRules: rulesFor('process') })).toEqual([]);
    expect(unsettledByRules(perms, { incomplete: true, resourceRules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] })).toEqual(perms);
    expect(unsettledByRules(perms, undefined)).toEqual(perms);
  });
});

describe('manifests/rbac.yaml grants what the preflight requires', () => {
  for (const mode of KARPENTER_MODES) {
    for (const scenario of SCENARIOS) {
      it(`karpenter-mode ${mode}, scenario ${scenario}: ${ROLES_FOR[mode].join(' + ')}`, () => {
        const config = configFrom(inputsFor(mode, scenario), env);
        const perms = permissionsFor(config, 'gpu-conformance-run');
        expect(perms.length).toBeGreaterThan(10);
        const denied = perms.filter((p) => !allows(rulesFor(mode), toRequest(p))).map(describePermission);
        expect(denied).toEqual([]);
      });
    }
  }

  it('the base role alone does not satisfy the Helm modes (the extra roles are needed)', () => {
    const config = configFrom(inputsFor('kind', 'metric'), env);
    const denied = permissionsFor(config, 'ns').filter((p) => !allows(role(BASE), toRequest(p)));
    expect(denied.map((p) => p.resource)).toContain('clusterroles');
  });

  it('existing mode installs nothing: no CRD, Node or NodeClaim creation', () => {
    const rules = rulesFor('existing');
    expect(allows(rules, { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' })).toBe(false);
    expect(allows(rules, { verb: 'create', group: '', resource: 'nodes' })).toBe(false);
    expect(allows(rules, { verb: 'create', group: 'karpenter.sh', resource: 'nodeclaims' })).toBe(false);
  });

  it('existing and process modes can read no Secrets and change no RBAC', () => {
    for (const mode of ['existing', 'process'] as const) {
      const rules = rulesFor(mode);
      for (const verb of ['get', 'list', 'create']) expect(allows(rules, { verb, group: '', resource: 'secrets' }), `${mode}: ${verb} secrets`).toBe(false);
      for (const verb of ['create', 'escalate', 'bind'])
        expect(allows(rules, { verb, group: 'rbac.authorization.k8s.io', resource: 'clusterroles' }), `${mode}: ${verb}`).toBe(false);
      expect(allows(rules, { verb: 'impersonate', group: '', resource: 'users' })).toBe(false);
      expect(rules.some((r) => r.verbs.includes('*'))).toBe(false);
    }
  });
});

/** Every (group, resource, verb, name) a rule grants, for the "does A cover B" check. */
function expand(rule: PolicyRule): AccessRequest[] {
  const out: AccessRequest[] = [];
  for (const group of rule.apiGroups ?? [])
    for (const res of rule.resources ?? [])
      for (const verb of rule.verbs)
        for (const name of rule.resourceNames?.length ? rule.resourceNames : [undefined]) {
          const [resource, subresource] = res.split('/') as [string, string | undefined];
          out.push({ verb, group, resource, subresource, name });
        }
  return out;
}
const uncovered = (held: PolicyRule[], granted: PolicyRule[]): string[] =>
  granted
    .flatMap(expand)
    .filter((r) => !allows(held, r))
    .map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}${r.group ? `.${r.group}` : ''}${r.name ? ` (${r.name})` : ''}`);

// The charts' RBAC, from the same Go modules the action and the test bed use (downloaded through
// the module proxy once, then read from the module cache).
describe("manifests/rbac.yaml covers the RBAC of what Karpenter and Helm's charts grant", () => {
  const chartRoles = async (module: string, version: string, dir: string) => {
    const mod = await downloadModule('go', module, version);
    const templates = path.join(mod.Dir, dir);
    return fs
      .readdirSync(templates)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => rbacObjects(fs.readFileSync(path.join(templates, f), 'utf8')).map((o) => ({ ...o, file: `${module}@${version}/${dir}/${f}` })));
  };

  it("process mode: the Karpenter role holds every ClusterRole rule of Karpenter's KWOK chart", async () => {
    const roles = await chartRoles('sigs.k8s.io/karpenter', INPUT_DEFAULTS['karpenter-version']!, 'kwok/charts/templates');
    const clusterRoles = roles.filter((r) => r.kind === 'ClusterRole' && !r.file.endsWith('aggregate-clusterrole.yaml'));
    expect(clusterRoles.length).toBeGreaterThanOrEqual(2);
    for (const r of clusterRoles) expect(uncovered(role(KARPENTER), r.rules), r.file).toEqual([]);
  });

  it('kind/registry modes: the bound roles hold every rule the Karpenter and KWOK charts create', async () => {
    const roles = [
      ...(await chartRoles('sigs.k8s.io/karpenter', INPUT_DEFAULTS['karpenter-version']!, 'kwok/charts/templates')),
      ...(await chartRoles('sigs.k8s.io/kwok', versions().KWOK_VERSION!, 'charts/kwok/templates')),
    ];
    expect(roles.filter((r) => r.file.includes('sigs.k8s.io/kwok@')).length).toBeGreaterThanOrEqual(1);
    for (const r of roles) expect(uncovered(rulesFor('kind'), r.rules), `${r.kind} ${r.name} in ${r.file}`).toEqual([]);
  });
});
