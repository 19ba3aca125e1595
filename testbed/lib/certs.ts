// The bed's PKI, made with openssl: one CA for serving and client certificates, a separate
// front-proxy CA (the aggregation layer's request-header authentication), a service-account key
// pair, and kubeconfigs that embed the credentials (so they work when copied elsewhere).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A client identity: a certificate with this CN and organisations (groups). */
export interface Identity {
  file: string;
  cn: string;
  groups?: string[];
}

export const IDENTITIES: Identity[] = [
  { file: 'admin', cn: 'kubernetes-admin', groups: ['system:masters'] },
  { file: 'kube-controller-manager', cn: 'system:kube-controller-manager' },
  { file: 'kube-scheduler', cn: 'system:kube-scheduler' },
  // kwok and the adapter run with broad rights here, as their charts' ClusterRoles grant in a cluster
  { file: 'kwok', cn: 'kwok-controller', groups: ['system:masters'] },
  { file: 'prometheus-adapter', cn: 'prometheus-adapter', groups: ['system:masters'] },
];

/** Names the one serving certificate answers to: loopback, the in-cluster apiserver names, the adapter's Service. */
export const SERVING_SANS = [
  'IP:127.0.0.1',
  'IP:10.96.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
  'DNS:prometheus-adapter.monitoring.svc',
];

const openssl = (args: string[], input?: string) => execFileSync('openssl', args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });

function key(path: string) {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function ca(dir: string, name: string, cn: string) {
  key(join(dir, `${name}.key`));
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    join(dir, `${name}.key`),
    '-subj',
    `/CN=${cn}`,
    '-days',
    '3650',
    '-out',
    join(dir, `${name}.crt`),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

function signed(dir: string, caName: string, name: string, subject: string, ext: string) {
  const k = join(dir, `${name}.key`);
  key(k);
  const csr = openssl(['req', '-new', '-key', k, '-subj', subject]).toString();
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(
    [
      'x509',
      '-req',
      '-CA',
      join(dir, `${caName}.crt`),
      '-CAkey',
      join(dir, `${caName}.key`),
      '-CAcreateserial',
      '-days',
      '365',
      '-extfile',
      extFile,
      '-out',
      join(dir, `${name}.crt`),
    ],
    csr,
  );
}

const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

/** Creates the PKI under dir/pki unless it is already there; returns that directory. */
export function ensurePki(dir: string): string {
  const pki = join(dir, 'pki');
  if (existsSync(join(pki, 'complete'))) return pki;
  mkdirSync(pki, { recursive: true });
  ca(pki, 'ca', 'gac-bed-ca');
  ca(pki, 'front-proxy-ca', 'gac-bed-front-proxy-ca');
  signed(
    pki,
    'ca',
    'serving',
    '/CN=gac-bed-serving',
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${SERVING_SANS.join(',')}\n`,
  );
  for (const id of IDENTITIES) {
    const subject = [...(id.groups ?? []).map((g) => `/O=${g}`), `/CN=${id.cn}`].join('');
    signed(pki, 'ca', id.file, subject, clientExt);
  }
  signed(pki, 'front-proxy-ca', 'front-proxy-client', '/CN=front-proxy-client', clientExt);
  key(join(pki, 'sa.key'));
  writeFileSync(join(pki, 'sa.pub'), openssl(['pkey', '-in', join(pki, 'sa.key'), '-pubout']));
  writeFileSync(join(pki, 'complete'), '');
  return pki;
}

/** A kubeconfig for one identity, credentials embedded. */
export function kubeconfig(pki: string, server: string, identity: string): string {
  const b64 = (f: string) => readFileSync(join(pki, f)).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: gac-bed
  cluster:
    server: ${server}
    certificate-authority-data: ${b64('ca.crt')}
users:
- name: ${identity}
  user:
    client-certificate-data: ${b64(`${identity}.crt`)}
    client-key-data: ${b64(`${identity}.key`)}
contexts:
- name: gac-bed
  context:
    cluster: gac-bed
    user: ${identity}
current-context: gac-bed
`;
}
