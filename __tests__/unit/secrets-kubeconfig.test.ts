// Every credential the kubeconfig can produce is masked: what the file holds (tokens, passwords,
// client keys, OIDC id/refresh tokens, token and key files) when it is loaded, and what it
// produces at request time (an exec plugin's token and client key) as the real client
// authenticates a request to a loopback server.
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, loadKubeConfig } from '../../src/kube/client.js';
import { rawRequest } from '../../src/kube/raw.js';
import { forgetSecrets, knownSecrets, kubeconfigSecrets, redact, registerSecrets } from '../../src/secrets.js';
import { captureStdout } from '../support/runner-state.js';

let server: Server;
let port: number;
const authHeaders: string[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kc-secrets-'));

// An EC private key as a kubeconfig's client-key-data would hold it (made for this test only).
const PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTESTONLYtestonlyT
ESTONLYtestonlyTESTONLYhRANCAAR0ZXN0b25seXRlc3Rvbmx5dGVzdG9ubHl0
-----END PRIVATE KEY-----
`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const jwt = (claims: object) => `${b64(JSON.stringify({ alg: 'none' }))}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2lnbmF0dXJl`;
const EXEC_TOKEN = 'exec-plugin-token-0123456789';

function kubeconfigFile(name: string, user: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
users:
- name: u
  user:
${user}
`,
  );
  return file;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    authHeaders.push(req.headers.authorization ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: {}, items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
beforeEach(() => forgetSecrets());

describe('kubeconfig secrets', () => {
  it('finds tokens, basic auth, client keys (data and file, base64 and PEM lines), OIDC tokens and token files', () => {
    const keyFile = path.join(dir, 'client.key');
    fs.writeFileSync(keyFile, PEM);
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 'token-from-a-file-abcdef\n');
    const idToken = jwt({ exp: 4102444800, sub: 'me' });
    const file = kubeconfigFile(
      'static',
      `    token: static-bearer-token-123
    username: admin
    password: basic-password-456
    client-key-data: ${b64(PEM)}
    client-key: ${keyFile}
    auth-provider:
      name: oidc
      config:
        client-id: kubernetes
        client-secret: oidc-client-secret-789
        id-token: ${idToken}
        refresh-token: oidc-refresh-token-abc
        idp-issuer-url: https://issuer.example
        tokenFile: ${tokenFile}`,
    );
    const found = kubeconfigSecrets(loadKubeConfig({ kubeconfig: file }));
    expect(found).toEqual(
      expect.arrayContaining([
        'static-bearer-token-123',
        'basic-password-456',
        b64('admin:basic-password-456'),
        b64(PEM),
        PEM.trim(),
        'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTESTONLYtestonlyT',
        'oidc-client-secret-789',
        idToken,
        'oidc-refresh-token-abc',
        'token-from-a-file-abcdef',
      ]),
    );
    // Settings are not secrets.
    expect(found).not.toContain('kubernetes');
    expect(found).not.toContain('https://issuer.example');
  });

  it("an exec plugin's token and client key are masked (::add-mask::) as the real client authenticates a request", async () => {
    const plugin = path.join(dir, 'plugin.mjs');
    fs.writeFileSync(
      plugin,
      `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: '${EXEC_TOKEN}', clientKeyData: ${JSON.stringify(PEM)}, clientCertificateData: '' } }));\n`,
    );
    const file = kubeconfigFile(
      'exec',
      `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${process.execPath}
      args: [${plugin}]
      interactiveMode: Never`,
    );
    // Loading the file finds nothing: the token exists only once the plugin ran.
    expect(kubeconfigSecrets(loadKubeConfig({ kubeconfig: file }))).toEqual([]);
    const kube = connect({ kubeconfig: file });
    const { stdout } = await captureStdout(async () => {
      await rawRequest(kube, '/api/v1/nodes');
      await kube.core.listNode();
    });
    expect(authHeaders.at(-1)).toBe(`Bearer ${EXEC_TOKEN}`);
    expect(knownSecrets()).toEqual(expect.arrayContaining([EXEC_TOKEN, PEM]));
    expect(stdout).toContain(`::add-mask::${EXEC_TOKEN}`);
    // Registered once, however many requests carry it.
    expect(stdout.split(`::add-mask::${EXEC_TOKEN}`).length - 1).toBe(1);
    expect(redact(`Authorization: Bearer ${EXEC_TOKEN}`, knownSecrets())).toBe('Authorization: Bearer ***');
  });

  it('registerSecrets masks each value once', async () => {
    const { stdout } = await captureStdout(async () => {
      registerSecrets(['a-secret-value-1', 'a-secret-value-1', 'short']);
    });
    expect(stdout.match(/::add-mask::/g)).toHaveLength(2);
  });
});
