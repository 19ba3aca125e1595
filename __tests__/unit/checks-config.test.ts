import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configFrom } from '../../src/inputs.js';
import { describePermission, needsExternalMetrics } from '../../src/checks/permissions.js';
import { permissionsFor } from '../../src/karpenter/index.js';
import { cheapestFit, priceOf, sizeNode } from '../../src/checks/rightsizing.js';
import { desiredReplicas, initialReplicas, renderWorkload } from '../../src/checks/workload.js';
import { newRunState } from '../../src/state.js';
import { pluralOf } from '../../src/stages/cleanup.js';
import { softMarginMs } from '../../src/stages/wait.js';
import { collectionPath } from '../../src/kube/paths.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests are checked field by field
type Any = any;

const templates = {
  deployment: parse(readFileSync('manifests/workload/deployment.yaml', 'utf8')),
  hpa: parse(readFileSync('manifests/workload/hpa.yaml', 'utf8')),
};

describe('permissions per stage and mode', () => {
  it('covers the workload, HPA and metric in the metric scenario', () => {
    const config = configFrom({ 'run-id': 'r1' });
    const perms = permissionsFor(config, 'ns-r1');
    const has = (verb: string, resource: string, ns?: string) => perms.some((p) => p.verb === verb && p.resource === resource && p.namespace === ns);
    expect(has('create', 'deployments', 'ns-r1')).toBe(true);
    expect(has('create', 'horizontalpodautoscalers', 'ns-r1')).toBe(true);
    expect(has('get', 'dcgm_gpu_power_usage', 'ns-r1')).toBe(true);
    expect(has('watch', 'nodeclaims')).toBe(true);
    expect(has('delete', 'namespaces')).toBe(true);
    // one entry per (verb, resource, namespace)
    const keys = perms.map((p) => `${p.verb}|${p.group}|${p.resource}/${p.subresource ?? ''}|${p.namespace}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(needsExternalMetrics(config)).toBe(true);
  });
  it('needs no HPA or metric access in the pending-pods scenario, nor for unselected stages', () => {
    const config = configFrom({ 'run-id': 'r1', scenario: 'pending-pods', stages: 'preflight,workload,pending,cleanup' });
    const perms = permissionsFor(config, 'ns');
    expect(perms.some((p) => p.resource === 'horizontalpodautoscalers')).toBe(false);
    expect(perms.some((p) => p.group === 'external.metrics.k8s.io')).toBe(false);
    // only preflight's list, which tells live runs from leftovers by their NodePools
    expect(perms.filter((p) => p.resource === 'nodepools').map((p) => p.verb)).toEqual(['list']);
    expect(needsExternalMetrics(config)).toBe(false);
  });
  it("adds Helm's objects only in the Helm modes", () => {
    const helm = permissionsFor(configFrom({ 'run-id': 'r', 'karpenter-mode': 'registry', 'image-repository': 'localhost:5000/karpenter' }), 'ns');
    const proc = permissionsFor(configFrom({ 'run-id': 'r', 'karpenter-mode': 'process' }), 'ns');
    expect(helm.some((p) => p.resource === 'clusterroles')).toBe(true);
    expect(proc.some((p) => p.resource === 'clusterroles')).toBe(false);
  });
  it('reads like RBAC', () => {
    expect(describePermission({ verb: 'create', group: 'apps', resource: 'deployments', namespace: 'x', stage: 'workload' })).toBe(
      'create deployments.apps in namespace x [workload]',
    );
    expect(describePermission({ verb: 'list', group: '', resource: 'nodes', stage: 'preflight' })).toBe('list nodes (cluster-wide) [preflight]');
  });
});

describe('right-sizing with the shipped instance types', () => {
  const types = configFrom({ 'run-id': 'r' }).instanceTypes;
  it('picks the cheapest type that fits', () => {
    expect(cheapestFit(types, 1)?.name).toBe('g5.xlarge');
    expect(cheapestFit(types, 8)?.name).toBe('p5.48xlarge');
    expect(cheapestFit(types, 2)?.name).toBe('p5.48xlarge');
    expect(cheapestFit(types, 9)).toBeUndefined();
    expect(priceOf(types.find((t) => t.name === 'g5.xlarge'))).toBeGreaterThan(0);
  });
  it('judges each node by what it runs', () => {
    expect(sizeNode(types, 'n', 'g5.xlarge', 1, 1, 1).rightSized).toBe(true);
    expect(sizeNode(types, 'n', 'g5.2xlarge', 1, 1, 1)).toMatchObject({ rightSized: false, cheapestFit: 'g5.xlarge' });
    expect(sizeNode(types, 'n', 'p5.48xlarge', 8, 1, 8).rightSized).toBe(true);
    expect(sizeNode(types, 'n', 'p5.48xlarge', 8, 1, 1).rightSized).toBe(false);
    expect(sizeNode(types, 'n', 'p5.48xlarge', 8, 4, 1).rightSized).toBe(true);
    expect(sizeNode(types, 'n', 'unknown', 1, 1, 1).rightSized).toBe(false);
  });
});

describe('workload from the templates', () => {
  it('renders the metric scenario: GPU request=limit, tolerations, pool selector, hardening, HPA', () => {
    const config = configFrom({ 'run-id': 'r1', 'gpus-per-pod': '2', 'metric-target': '500m', 'min-replicas': '1', 'max-replicas': '3' });
    const run = newRunState(config);
    const [ns, d, h] = renderWorkload(templates, config, run) as Any[];
    expect(ns.metadata).toEqual({
      name: run.namespace,
      labels: { [run.runLabel.key]: 'r1' },
      annotations: { 'gpu-autoscaling-conformance/karpenter-mode': 'process' },
    });
    expect(d.metadata.namespace).toBe(run.namespace);
    expect(d.metadata.labels[run.runLabel.key]).toBe('r1');
    expect(d.spec.replicas).toBe(1);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.resources.requests['nvidia.com/gpu']).toBe('2');
    expect(c.resources.limits['nvidia.com/gpu']).toBe('2');
    expect(pod.nodeSelector).toEqual({ 'karpenter.sh/nodepool': config.nodePool.name });
    expect(pod.tolerations.map((t: Any) => t.key)).toEqual(['nvidia.com/gpu', 'kwok.x-k8s.io/node']);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
    expect(h.apiVersion).toBe('autoscaling/v2');
    expect(h.spec).toMatchObject({ minReplicas: 1, maxReplicas: 3, scaleTargetRef: { kind: 'Deployment', name: d.metadata.name } });
    expect(h.spec.metrics).toEqual([
      { type: 'External', external: { metric: { name: 'dcgm_gpu_power_usage' }, target: { type: 'AverageValue', averageValue: '500m' } } },
    ]);
    // the templates themselves are untouched
    expect(templates.deployment.spec.template.spec.nodeSelector).toEqual({});
  });
  it('renders the pending-pods scenario: no HPA, straight to max', () => {
    const config = configFrom({ 'run-id': 'r1', scenario: 'pending-pods', 'max-replicas': '5' });
    const objs = renderWorkload(templates, config, newRunState(config)) as Any[];
    expect(objs.map((o) => o.kind)).toEqual(['Namespace', 'Deployment']);
    expect(objs[1].spec.replicas).toBe(5);
    expect(initialReplicas(config)).toBe(5);
    expect(desiredReplicas(config, { outputs: {} })).toBe(5);
    expect(desiredReplicas(config, { outputs: { hpaDesiredReplicas: 3 } })).toBe(3);
  });
});

describe('small helpers', () => {
  it('pluralises the kinds a run applies', () => {
    expect(pluralOf('NodePool')).toBe('nodepools');
    expect(pluralOf('KWOKNodeClass')).toBe('kwoknodeclasses');
    expect(pluralOf('CustomResourceDefinition')).toBe('customresourcedefinitions');
    expect(pluralOf('NetworkPolicy')).toBe('networkpolicies');
  });
  it('maps apiVersions to collection paths', () => {
    expect(collectionPath('v1', 'nodes')).toBe('/api/v1/nodes');
    expect(collectionPath('karpenter.sh/v1', 'nodepools')).toBe('/apis/karpenter.sh/v1/nodepools');
    expect(collectionPath('apps/v1', 'deployments', 'x')).toBe('/apis/apps/v1/namespaces/x/deployments');
  });
  it("ends stage waits before the runner's hard timeout", () => {
    expect(softMarginMs(20_000)).toBe(1000);
    expect(softMarginMs(120_000)).toBe(6000);
    expect(softMarginMs(3_600_000)).toBe(10_000);
  });
});
