// A watch still connecting when its signal fires is ended with it: the loopback server holds the
// watch request without answering (an apiserver under load, a proxy), the signal aborts, and the
// server must see the connection closed at once, not when the client's 5-minute timeout ends it
// (the connection would keep main alive after its stage ended).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/kube/client.js';
import { watchUntil, WatchAbortedError } from '../../src/kube/watch.js';
import { allOrNothing } from '../../src/stages/wait.js';
import { loopbackKubeconfig } from '../support/loopback.js';

let server: Server;
let kubeconfig: string;
/** Watch requests received, each with a promise of its connection closing. */
const watches: { closed: Promise<number> }[] = [];
let onWatch: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url!.includes('watch=true')) {
      // Never answers: the client is still connecting.
      watches.push({ closed: new Promise((r) => req.socket.once('close', () => r(Date.now()))) });
      onWatch?.();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kubeconfig = loopbackKubeconfig((server.address() as AddressInfo).port);
});
afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

describe('a watch still connecting when the signal fires', () => {
  it('is aborted with it: the wait rejects at once and the server sees the connection closed', async () => {
    const kube = connect({ kubeconfig });
    const ctl = new AbortController();
    const requested = new Promise<void>((r) => (onWatch = r));
    const waiting = watchUntil(kube, { path: '/api/v1/nodes', signal: ctl.signal, describe: 'a node', until: () => undefined, log: () => undefined });
    await requested;
    const abortedAt = Date.now();
    ctl.abort(new Error('stage ended'));
    await expect(waiting).rejects.toBeInstanceOf(WatchAbortedError);
    const closedAt = await Promise.race([watches.at(-1)!.closed, new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 3000))]);
    expect(closedAt - abortedAt).toBeLessThan(1000);
  });
});

describe('waits that stand or fall together (consolidation: NodeClaims and Nodes)', () => {
  it('when one fails, the other stops watching before the failure is reported', async () => {
    const kube = connect({ kubeconfig });
    const requested = new Promise<void>((r) => (onWatch = r));
    let otherEnded = false;
    const both = allOrNothing(new AbortController().signal, [
      (signal) =>
        watchUntil(kube, { path: '/api/v1/nodes', signal, describe: 'a node', until: () => undefined, log: () => undefined }).finally(
          () => (otherEnded = true),
        ),
      // Fails once the first wait's watch is open: a baseline node lost, say.
      async () => {
        await requested;
        throw new Error('baseline node gone');
      },
    ]);
    await expect(both).rejects.toThrow('baseline node gone');
    expect(otherEnded).toBe(true);
    // And its connection is closed, not left to the client's timeout.
    const closedAt = await Promise.race([watches.at(-1)!.closed, new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 3000))]);
    expect(closedAt).toBeLessThan(Number.POSITIVE_INFINITY);
  });

  it('gives every result when all succeed, and ends every wait when the stage signal fires', async () => {
    expect(await allOrNothing(new AbortController().signal, [async () => 1, async () => 'two'])).toEqual([1, 'two']);
    const stage = new AbortController();
    const seen: string[] = [];
    const waiting = allOrNothing(
      stage.signal,
      [0, 1].map(
        (i) => (signal: AbortSignal) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => (seen.push(`wait ${i}`), reject(new Error(`wait ${i} aborted`))))),
      ),
    );
    stage.abort();
    await expect(waiting).rejects.toThrow('wait 0 aborted');
    expect(seen).toEqual(['wait 0', 'wait 1']);
  });
});

describe('withSignal: the clients of a stage', () => {
  it('typed, object and raw requests under way end when the signal aborts; the server sees each connection closed', async () => {
    const { withSignal } = await import('../../src/kube/client.js');
    const { rawRequest } = await import('../../src/kube/raw.js');
    const held: Promise<number>[] = [];
    let arrived: (() => void) | undefined;
    const hold = createServer((req) => {
      held.push(new Promise((r) => req.socket.once('close', () => r(Date.now()))));
      arrived?.();
    });
    await new Promise<void>((r) => hold.listen(0, '127.0.0.1', r));
    try {
      const kube = connect({ kubeconfig: loopbackKubeconfig((hold.address() as AddressInfo).port) });
      const ctl = new AbortController();
      const stage = withSignal(kube, ctl.signal);
      const all = new Promise<void>((r) => {
        let n = 0;
        arrived = () => ++n === 3 && r();
      });
      const calls = [
        stage.core.listNode().catch((e: unknown) => e),
        stage.apps.listDeploymentForAllNamespaces().catch((e: unknown) => e),
        rawRequest(stage, '/api/v1/namespaces').catch((e: unknown) => e),
      ];
      await all;
      const abortedAt = Date.now();
      ctl.abort(new Error('stage timed out'));
      const errors = await Promise.all(calls);
      expect(Date.now() - abortedAt).toBeLessThan(1000);
      for (const e of errors) expect(String((e as Error).name) + String(e)).toMatch(/abort|stage timed out/i);
      const closed = await Promise.all(held.map((p) => Promise.race([p, new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 3000))])));
      for (const at of closed) expect(at - abortedAt).toBeLessThan(1000);
      // The unscoped clients are untouched by it.
      expect(kube.kc).not.toBe(stage.kc);
    } finally {
      hold.closeAllConnections();
      hold.close();
    }
  });
});

describe('withSignal during an outage', () => {
  it('a typed call asking again through refused connections, ended by the signal, says the API did not answer (not a bare abort)', async () => {
    const { withSignal } = await import('../../src/kube/client.js');
    // A port nothing listens on: every attempt is refused.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const kube = connect({ kubeconfig: loopbackKubeconfig(port) });
    // The stage's deadline comes while the call is still asking.
    const stage = withSignal(kube, AbortSignal.timeout(600));
    const call = stage.core.listNode().then(
      () => new Error('answered'),
      (e: unknown) => e as Error,
    );
    const started = Date.now();
    const e = await call;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(e.message).toMatch(/^core\.listNode: the API has not answered for \d+ s \(fetch failed \(ECONNREFUSED\)\)$/);
    // Ended by the signal, not after the window: the API is not marked down for the next requests.
    expect(kube.reach.downSince).toBeUndefined();
  });
});
