// A plain-HTTP loopback proxy in front of the bed's kube-apiserver, authenticating as the bed's
// admin, for faults a TCP proxy cannot make: it can hold one request until the client gives up
// on it and then send it anyway, as a slow apiserver or etcd that commits a write after the
// client's timeout would. Requests that arrive after that wait for the late one to be answered,
// so the late write lands before anything the client does next (an order of events, not a delay).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface LateRequest {
  method: string;
  path: string;
  /** The apiserver's status for the request sent after the client gave up. */
  status: number;
}

export interface ApiProxy {
  /** A kubeconfig (no credentials of its own; the client refuses plain HTTP without skip-TLS-verify) that reaches the apiserver through the proxy. */
  kubeconfig: string;
  /** Resolves once the held request was sent after its client gave up, with the server's answer. */
  late: Promise<LateRequest>;
  close(): Promise<void>;
}

/** Starts the proxy; the first request `hold` matches is held until its client closes, then sent. */
export async function startApiProxy(adminKubeconfig: string, dir: string, hold: (method: string, path: string) => boolean): Promise<ApiProxy> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser()!;
  const b64 = (s?: string) => (s ? Buffer.from(s, 'base64') : undefined);
  const target = new URL(cluster.server);
  const agent = new https.Agent({
    ca: b64(cluster.caData) ?? (cluster.caFile ? fs.readFileSync(cluster.caFile) : undefined),
    cert: b64(user.certData) ?? (user.certFile ? fs.readFileSync(user.certFile) : undefined),
    key: b64(user.keyData) ?? (user.keyFile ? fs.readFileSync(user.keyFile) : undefined),
    keepAlive: true,
  });

  /** Sends the request upstream; the answer is streamed to `to` (watches too), or read and dropped. */
  const forward = (req: http.IncomingMessage, body: Buffer, to?: http.ServerResponse): Promise<number> =>
    new Promise((resolve, reject) => {
      const { host: _h, connection: _c, ...headers } = req.headers;
      const up = https.request({ agent, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (res) => {
        resolve(res.statusCode ?? 0);
        if (!to) return void res.resume();
        const { connection: _k, 'transfer-encoding': _t, ...back } = res.headers;
        to.writeHead(res.statusCode ?? 502, back);
        res.pipe(to);
        to.on('close', () => res.destroy());
      });
      up.on('error', reject);
      up.end(body);
    });

  let held = false;
  let gate: Promise<unknown> = Promise.resolve();
  let settleLate!: (r: LateRequest) => void;
  let failLate!: (e: Error) => void;
  const late = new Promise<LateRequest>((resolve, reject) => ((settleLate = resolve), (failLate = reject)));

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      if (!held && hold(method, url.split('?')[0]!)) {
        held = true;
        // Sent only once the client has given up on it; later requests wait for its answer.
        gate = new Promise<void>((resolve) => {
          res.on('close', () => {
            forward(req, body)
              .then((status) => settleLate({ method, path: url, status }))
              .catch((e: Error) => failLate(e))
              .finally(resolve);
          });
        });
        return;
      }
      await gate;
      await forward(req, body, res).catch((e: Error) => void res.writeHead(502).end(e.message));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const kubeconfig = path.join(dir, 'proxied.kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'proxied', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'proxied', user: {} }],
      contexts: [{ name: 'proxied', context: { cluster: 'proxied', user: 'proxied' } }],
      'current-context': 'proxied',
    }),
  );
  return {
    kubeconfig,
    late,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
