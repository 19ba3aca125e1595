// One-shot requests through an apiserver restart: a loopback HTTP server answers as a
// restarting kube-apiserver does (429 while storage initialises, 503 while it shuts down) a set
// number of times before the real answer; the typed clients and raw requests ask again, an
// aggregated API's 503 and a 404 are answers at once. (A real restart: __tests__/bed/testbed.test.ts.)
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { loopbackKubeconfig } from '../support/loopback.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/kube/client.js';
import { rawRequest } from '../../src/kube/raw.js';
import { askThroughRestarts, isRestartAnswer, isTransientFailure, throughRestarts, TRANSIENT_WINDOW_MS } from '../../src/kube/transient.js';

let server: Server;
let kubeconfig: string;
/** Answers still to give before the real one, as [status, body]. */
let restartAnswers: [number, string][] = [];
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    res.setHeader('content-type', 'application/json');
    const next = restartAnswers.shift();
    if (next) {
      res.statusCode = next[0];
      res.end(next[1]);
      return;
    }
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [{ metadata: { name: 'n1' } }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  kubeconfig = loopbackKubeconfig(port);
});
afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
beforeEach(() => {
  requests = 0;
  restartAnswers = [];
});

const status = (code: number, message: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });
const TOO_MANY = [429, status(429, 'storage is (re)initializing')] as [number, string];
const SHUTTING_DOWN = [503, status(503, 'apiserver is shutting down')] as [number, string];

describe('requests through an apiserver restart', () => {
  it('a typed call is asked again through 429 and a shutting-down 503, and gets the real answer', async () => {
    restartAnswers = [SHUTTING_DOWN, TOO_MANY, TOO_MANY];
    const nodes = await connect({ kubeconfig }).core.listNode();
    expect(nodes.items.map((n) => n.metadata?.name)).toEqual(['n1']);
    expect(requests).toBe(4);
  });

  it('a raw request is asked again the same way', async () => {
    restartAnswers = [TOO_MANY, SHUTTING_DOWN];
    const r = await rawRequest(connect({ kubeconfig }), '/api/v1/nodes');
    expect(r.status).toBe(200);
    expect(requests).toBe(3);
  });

  it("an aggregated API's 503 and a 404 are answers, not asked again", async () => {
    restartAnswers = [[503, status(503, 'service unavailable')]];
    await expect(connect({ kubeconfig }).core.listNode()).rejects.toMatchObject({ code: 503 });
    expect(requests).toBe(1);
    restartAnswers = [[404, status(404, 'nodes "x" not found')]];
    expect((await rawRequest(connect({ kubeconfig }), '/api/v1/nodes/x')).status).toBe(404);
    expect(requests).toBe(2);
  });

  it('the version call (preflight reachability) is not asked again: a wrong server fails at once', async () => {
    restartAnswers = [TOO_MANY];
    await expect(connect({ kubeconfig }).version.getCode()).rejects.toMatchObject({ code: 429 });
    expect(requests).toBe(1);
  });
});

describe('restart decisions', () => {
  const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  it('tells restart answers and lost connections from real failures', () => {
    expect(isRestartAnswer(429, '')).toBe(true);
    expect(isRestartAnswer(503, 'apiserver is shutting down')).toBe(true);
    expect(isRestartAnswer(503, 'service unavailable')).toBe(false);
    expect(isTransientFailure(refused)).toBe(true);
    expect(isTransientFailure(new k8s.ApiException(429, 'x', status(429, 'init'), {}))).toBe(true);
    expect(isTransientFailure(new k8s.ApiException(503, 'x', { message: 'apiserver is shutting down' }, {}))).toBe(true);
    expect(isTransientFailure(new k8s.ApiException(403, 'x', status(403, 'forbidden'), {}))).toBe(false);
    expect(isTransientFailure(new Error('boom'))).toBe(false);
  });

  it('a connection still lost after the window says for how long, with the failure as cause', async () => {
    let asked = 0;
    const e = await askThroughRestarts(
      () => {
        asked++;
        return Promise.reject(refused);
      },
      { what: 'GET /api/v1/nodes', windowMs: 300 },
    ).catch((err: unknown) => err as Error);
    expect(e.message).toMatch(/^GET \/api\/v1\/nodes: the API has not answered for \d+ s \(fetch failed \(ECONNREFUSED\)\)$/);
    expect(e.cause).toBe(refused);
    expect(asked).toBeGreaterThanOrEqual(2);
  });

  it('once a request gave up on the API, the next ones ask once until one gets an answer', async () => {
    const reach = {};
    const fail = () => Promise.reject(refused);
    await expect(askThroughRestarts(fail, { what: 'first', windowMs: 300, reach })).rejects.toThrow(/^first: the API has not answered for \d+ s/);
    let asked = 0;
    const once = () => {
      asked++;
      return Promise.reject(refused);
    };
    const t0 = Date.now();
    await expect(askThroughRestarts(once, { what: 'second', reach })).rejects.toThrow(/^second: the API has not answered for \d+ s/);
    expect(asked).toBe(1);
    expect(Date.now() - t0).toBeLessThan(TRANSIENT_WINDOW_MS);
    // an answer clears it: the full window applies again
    expect(await askThroughRestarts(() => Promise.resolve('ok'), { what: 'third', reach })).toBe('ok');
    expect(reach).toEqual({ downSince: undefined });
  });

  it('the client wrapper leaves non-promise members alone and calls the method on the client', async () => {
    const api = {
      n: 0,
      name: 'plain',
      sync: () => 'now',
      async call(this: { n: number }) {
        this.n++;
        if (this.n < 3) throw new k8s.ApiException(429, 'x', '', {});
        return this.n;
      },
    };
    const wrapped = throughRestarts(api, 'test', {});
    expect(wrapped.name).toBe('plain');
    expect(wrapped.sync()).toBe('now');
    expect(await wrapped.call()).toBe(3);
  });
});
