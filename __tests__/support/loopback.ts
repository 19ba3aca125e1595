// A kubeconfig for a loopback HTTP server that stands in for an apiserver in the client's unit tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A kubeconfig file for a loopback HTTP server standing in for an apiserver (unit tests of the client). */
export function loopbackKubeconfig(port: number): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kc-')), 'config');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: {} }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
  );
  return file;
}
