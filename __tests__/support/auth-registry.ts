// A registry that requires credentials, as ghcr.io does: an HTTPS front (a CA made with openssl)
// that answers 401 with a Basic challenge to any request without the right user and password,
// and forwards the others to go-containerregistry's in-memory `registry` on loopback. It keeps a
// log of every request (method, path, status, who) so a test can tell a push from a check.
// Listening on the kind network's gateway address, it is reachable from this host (ko, the
// action's "already built" check) and from the kind node's containerd (the cluster's pull).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry, type Registry } from './registry.js';
import { makeServerPki } from './tls.js';

export interface RegistryRequest {
  method: string;
  /** Path and query. */
  path: string;
  status: number;
  /** The user of valid credentials; undefined: none or wrong ones (answered 401). */
  user?: string;
  /** What the request's credentials said, when they were wrong: the user named. */
  refusedUser?: string;
  agent: string;
}

export interface AuthRegistry {
  /** host:port, e.g. 172.18.0.1:40123: the name in image references. */
  host: string;
  user: string;
  password: string;
  /** PEM file of the CA that signed the front's certificate. */
  caFile: string;
  /** The CA and the system's trust store in one file, for Go programs (SSL_CERT_FILE replaces the system file). */
  caBundle: string;
  /** Every request the front answered, in order. */
  log: RegistryRequest[];
  /** A DOCKER_CONFIG directory whose config.json holds `auths.<host>` with this password (default: the right one), as `docker login` writes it. */
  dockerConfig(password?: string): string;
  stop(): Promise<void>;
}

const SYSTEM_CAS = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/** Starts the in-memory registry and the authenticating HTTPS front on `address` (port chosen by the system). */
export async function startAuthRegistry(opts: { binary: string; address: string; user?: string; password?: string }): Promise<AuthRegistry> {
  const user = opts.user ?? 'gac-pusher';
  const password = opts.password ?? 'right-password-4242';
  const upstream: Registry = await startRegistry(opts.binary);
  const upstreamPort = Number(upstream.host.split(':')[1]);
  const pki = makeServerPki(`IP:${opts.address}`);
  const caBundle = path.join(pki.dir, 'bundle.crt');
  const system = SYSTEM_CAS.find((f) => fs.existsSync(f));
  fs.writeFileSync(caBundle, `${system ? fs.readFileSync(system, 'utf8') : ''}\n${fs.readFileSync(pki.caFile, 'utf8')}`);
  const log: RegistryRequest[] = [];
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  const server = https.createServer({ cert: fs.readFileSync(pki.certFile), key: fs.readFileSync(pki.keyFile) }, (req, res) => {
    const entry: RegistryRequest = { method: req.method ?? '', path: req.url ?? '', status: 0, agent: String(req.headers['user-agent'] ?? '') };
    log.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    const auth = req.headers.authorization ?? '';
    if (auth !== expected) {
      if (auth.startsWith('Basic ')) entry.refusedUser = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0];
      const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
      res.writeHead(401, {
        'WWW-Authenticate': 'Basic realm="gac-test-registry"',
        'Docker-Distribution-API-Version': 'registry/2.0',
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      req.resume();
      return;
    }
    entry.user = user;
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`upstream registry: ${e.message}`);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.address, () => resolve());
  });
  const host = `${opts.address}:${(server.address() as AddressInfo).port}`;
  const configDirs: string[] = [];
  const configJson = (pw = password) => JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${pw}`).toString('base64') } } }, null, 2);
  return {
    host,
    user,
    password,
    caFile: pki.caFile,
    caBundle,
    log,
    dockerConfig(pw = password) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-docker-config-'));
      configDirs.push(dir);
      fs.writeFileSync(path.join(dir, 'config.json'), configJson(pw), { mode: 0o600 });
      return dir;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await upstream.stop();
      for (const d of [pki.dir, ...configDirs]) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}

/** The requests that write to the registry: blob uploads (POST/PATCH/PUT) and manifest PUTs. Pure. */
export function writes(log: readonly RegistryRequest[]): RegistryRequest[] {
  return log.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
}
