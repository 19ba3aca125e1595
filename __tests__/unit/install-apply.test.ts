import { describe, expect, it } from 'vitest';
import { parseManifests, readManifests } from '../../src/kube/apply.js';

describe('parseManifests', () => {
  it('splits multi-document YAML and skips empty documents', () => {
    const objs = parseManifests('---\napiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: B\nmetadata: {name: b}\n');
    expect(objs.map((o) => o.kind)).toEqual(['A', 'B']);
  });
  it('names the source on a syntax error', () => {
    expect(() => parseManifests('a: [1\n', 'bad.yaml')).toThrow(/^bad\.yaml: /);
  });
  it('rejects a scalar document', () => {
    expect(() => parseManifests('just text\n', 'x.yaml')).toThrow('x.yaml: a document is not a Kubernetes object');
  });
  it('reads the default nodepool manifests: a NodePool and its KWOKNodeClass', () => {
    const objs = readManifests('manifests/nodepool.yaml');
    expect(objs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata?.name}`)).toEqual([
      'karpenter.sh/v1/NodePool/gpu',
      'karpenter.kwok.sh/v1alpha1/KWOKNodeClass/default',
    ]);
  });
});
