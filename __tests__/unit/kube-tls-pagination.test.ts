// The real client against loopback servers: a TLS failure is named as one, with its cause and what
// to check, at once (not after the restart window, not as "the API did not answer"); a paginated
// list whose continue token expired (410 Gone) starts again from the first page.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/kube/client.js';
import { rawRequest } from '../../src/kube/raw.js';
import { TlsError } from '../../src/kube/transient.js';
import { listAll, watchUntil } from '../../src/kube/watch.js';
import { failureMessage } from '../../src/runner.js';
import { loopbackKubeconfig } from '../support/loopback.js';
import { makePki, tlsKubeconfig, type Pki } from '../support/tls.js';

const nodeList = (names: string[], extra: object = {}) =>
  JSON.stringify({
    kind: 'NodeList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '10', ...extra },
    items: names.map((n) => ({ metadata: { name: n, resourceVersion: '5' } })),
  });

describe('TLS failures are named as TLS errors, with the cause', () => {
  let pki: Pki;
  const servers: Server[] = [];
  const serve = async (pair: { cert: string; key: string }): Promise<number> => {
    const s = createHttpsServer({ ...pair }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(_req.url?.startsWith('/version') ? JSON.stringify({ gitVersion: 'v1.34.0', platform: 'linux/amd64' }) : nodeList(['n1']));
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  };

  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => Promise.all(servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r()))))));

  it('a good certificate from the trusted CA: requests answer (the control case)', async () => {
    const kube = connect({ kubeconfig: tlsKubeconfig(await serve(pki.servers.good), pki.ca) });
    expect((await rawRequest(kube, '/api/v1/nodes')).status).toBe(200);
    expect((await kube.core.listNode()).items).toHaveLength(1);
  });

  const cases: { name: string; server: keyof Pki['servers']; trust: 'ca' | 'none'; code: RegExp; hint: RegExp }[] = [
    { name: 'a CA the kubeconfig does not trust', server: 'otherCa', trust: 'ca', code: /UNABLE_TO_VERIFY_LEAF_SIGNATURE/, hint: /certificate-authority/ },
    {
      name: 'a self-signed server certificate',
      server: 'selfSigned',
      trust: 'none',
      code: /DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN/,
      hint: /certificate-authority/,
    },
    { name: 'an expired certificate', server: 'expired', trust: 'ca', code: /CERT_HAS_EXPIRED/, hint: /validity period/ },
    { name: 'a certificate for another host', server: 'wrongHost', trust: 'ca', code: /ERR_TLS_CERT_ALTNAME_INVALID/, hint: /tls-server-name/ },
  ];
  for (const c of cases) {
    it(`${c.name}: raw, typed, version and watch requests fail at once with a TlsError naming ${c.code.source}`, async () => {
      const kube = connect({ kubeconfig: tlsKubeconfig(await serve(pki.servers[c.server]), c.trust === 'ca' ? pki.ca : undefined) });
      const started = Date.now();
      const failures = await Promise.all([
        rawRequest(kube, '/api/v1/nodes').catch((e: unknown) => e),
        kube.core.listNode().catch((e: unknown) => e),
        kube.version.getCode().catch((e: unknown) => e),
        watchUntil(kube, { path: '/api/v1/nodes', signal: AbortSignal.timeout(10_000), describe: 'nodes', until: () => undefined, log: () => undefined }).catch(
          (e: unknown) => e,
        ),
      ]);
      // Not asked again through the 15 s restart window, nor until the watch's deadline.
      expect(Date.now() - started).toBeLessThan(5000);
      for (const e of failures) {
        expect(e).toBeInstanceOf(TlsError);
        const message = (e as Error).message;
        expect(message).toMatch(/TLS error connecting to the Kubernetes API/);
        expect(message).toMatch(c.code);
        expect(message).toMatch(c.hint);
        expect(message).not.toMatch(/has not answered|did not answer/);
        expect(failureMessage(e as Error)).toBe(message);
      }
      // Not taken for an API that is down: later requests are not cut short by it.
      expect(kube.reach.downSince).toBeUndefined();
    });
  }
});

describe('a paginated list whose continue token expired', () => {
  let server: ReturnType<typeof createHttpServer>;
  let kubeconfig: string;
  const requests: string[] = [];
  /** Continue tokens the server no longer honours (the first one it hands out, once). */
  let expireNext = 0;

  beforeAll(async () => {
    server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://x');
      requests.push(url.search);
      res.setHeader('content-type', 'application/json');
      const cont = url.searchParams.get('continue');
      if (cont === 'page2' && expireNext > 0) {
        expireNext--;
        res.statusCode = 410;
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            reason: 'Expired',
            code: 410,
            message: 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
          }),
        );
        return;
      }
      if (!cont) res.end(nodeList(['a', 'b'], { continue: 'page2' }));
      else if (cont === 'page2') res.end(nodeList(['c', 'd'], { continue: 'page3' }));
      else res.end(nodeList(['e']));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kubeconfig = loopbackKubeconfig((server.address() as AddressInfo).port);
  });
  afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

  it('lists again from the first page instead of failing, and holds each object once', async () => {
    expireNext = 1;
    requests.length = 0;
    const logs: string[] = [];
    const kube = connect({ kubeconfig });
    const listed = await listAll(kube, { path: '/api/v1/nodes', signal: AbortSignal.timeout(10_000), log: (m) => logs.push(m) });
    expect([...listed.items.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(listed.relists).toBe(1);
    expect(requests.map((q) => new URLSearchParams(q).get('continue'))).toEqual([null, 'page2', null, 'page2', 'page3']);
    expect(logs.join('\n')).toMatch(/continue token expired \(410 Gone\) after 2 object\(s\); listing again from the start/);
  });

  it('a wait on the list gets its result through the expired token', async () => {
    expireNext = 1;
    const kube = connect({ kubeconfig });
    const n = await watchUntil(kube, {
      path: '/api/v1/nodes',
      signal: AbortSignal.timeout(10_000),
      describe: 'five nodes',
      until: (items) => (items.size === 5 ? items.size : undefined),
      log: () => undefined,
    });
    expect(n).toBe(5);
  });

  it('a token that keeps expiring fails after a bounded number of relists, naming the 410', async () => {
    expireNext = 100;
    const kube = connect({ kubeconfig });
    await expect(listAll(kube, { path: '/api/v1/nodes', signal: AbortSignal.timeout(10_000) })).rejects.toThrow(/HTTP 410/);
    expireNext = 0;
  });
});
