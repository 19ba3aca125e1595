// Kubeconfigs for other identities on the bed: a client certificate signed by the bed's CA
// (openssl, argument arrays), for RBAC tests.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Bed } from '../../testbed/lib/bed.js';

/** Writes <dir>/<cn>.kubeconfig for user `cn` (no groups); its RBAC is whatever the test binds. */
export function userKubeconfig(bed: Bed, cn: string, dir: string): string {
  const key = path.join(dir, `${cn}.key`);
  const crt = path.join(dir, `${cn}.crt`);
  const ext = path.join(dir, `${cn}.ext`);
  fs.writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${cn}`]);
  const caKey = path.join(path.dirname(bed.ca), 'ca.key');
  execFileSync('openssl', ['x509', '-req', '-CA', bed.ca, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', crt], { input: csr });
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  const file = path.join(dir, `${cn}.kubeconfig`);
  fs.writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: bed, cluster: {server: "${bed.apiserver}", certificate-authority-data: ${b64(bed.ca)}}}]`,
      `users: [{name: ${cn}, user: {client-certificate-data: ${b64(crt)}, client-key-data: ${b64(key)}}}]`,
      `contexts: [{name: bed, context: {cluster: bed, user: ${cn}}}]`,
      'current-context: bed',
      '',
    ].join('\n'),
  );
  return file;
}
