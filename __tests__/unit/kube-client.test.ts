// Every API request the action makes carries its User-Agent and is counted: typed clients, the
// generic object client, watches and raw requests, against a loopback HTTP server that records
// what it receives.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { loopbackKubeconfig } from '../support/loopback.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, USER_AGENT } from '../../src/kube/client.js';
import { rawRequest } from '../../src/kube/raw.js';
import { requestCounts, requestKind } from '../../src/kube/requests.js';

let server: Server;
let kubeconfig: string;
const seen: { method: string; url: string; ua: string | undefined }[] = [];
let connections = 0;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push({ method: req.method!, url: req.url!, ua: req.headers['user-agent'] });
    res.setHeader('content-type', 'application/json');
    if (req.url!.includes('watch=true')) {
      res.end(`${JSON.stringify({ type: 'ADDED', object: { kind: 'Node', apiVersion: 'v1', metadata: { name: 'n1', resourceVersion: '2' } } })}\n`);
      return;
    }
    if (req.url!.startsWith('/api/v1/namespaces/default/configmaps/x')) {
      res.end(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'x', namespace: 'default' } }));
      return;
    }
    if (req.url === '/api/v1') {
      res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }] }));
      return;
    }
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  kubeconfig = loopbackKubeconfig(port);
});
afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

describe('kube client identity', () => {
  it('sends USER_AGENT on typed, object, watch and raw requests, and counts each one', async () => {
    const kube = connect({ kubeconfig });
    const before = requestCounts().total;
    await kube.core.listNode();
    await kube.objects.read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } });
    await rawRequest(kube, '/api/v1/nodes');
    await new Promise<void>((resolve, reject) => {
      void new k8s.Watch(kube.kc).watch(
        '/api/v1/nodes',
        {},
        () => undefined,
        (err) => (err ? reject(err as Error) : resolve()),
      );
    });
    expect(seen.length).toBeGreaterThanOrEqual(5); // list, discovery + get, raw list, watch
    expect(seen.filter((s) => s.ua !== USER_AGENT)).toEqual([]);
    expect(requestCounts().total - before).toBe(seen.length);
    expect(requestCounts().byKind).toMatchObject({ 'LIST nodes': 2, 'WATCH nodes': 1, 'GET configmaps': 1 });
  });

  it('reuses connections across requests instead of one per request', async () => {
    const kube = connect({ kubeconfig });
    const before = connections;
    for (let i = 0; i < 5; i++) await kube.core.listNode();
    for (let i = 0; i < 5; i++) await rawRequest(kube, '/api/v1/nodes');
    // A connection returns to the pool a moment after its response is read, so the next request may open a second one.
    expect(connections - before).toBeLessThanOrEqual(2);
  });

  it('classifies requests by verb and resource, without names', () => {
    expect(requestKind('GET', 'https://h/api/v1/nodes?labelSelector=a')).toBe('LIST nodes');
    expect(requestKind('GET', 'https://h/api/v1/nodes?watch=true&resourceVersion=3')).toBe('WATCH nodes');
    expect(requestKind('GET', 'https://h/api/v1/namespaces/ns/pods/p1')).toBe('GET pods');
    expect(requestKind('GET', 'https://h/api/v1/namespaces/ns')).toBe('GET namespaces');
    expect(requestKind('DELETE', 'https://h/apis/karpenter.sh/v1/nodeclaims/c1')).toBe('DELETE nodeclaims.karpenter.sh');
    expect(requestKind('PATCH', 'https://h/apis/apps/v1/namespaces/ns/deployments/d/scale')).toBe('PATCH deployments/scale.apps');
    expect(requestKind('GET', 'https://h/apis/external.metrics.k8s.io/v1beta1')).toBe('GET discovery.external.metrics.k8s.io');
    expect(requestKind('GET', 'https://h/version')).toBe('GET /version');
  });
});
