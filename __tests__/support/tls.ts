// Certificates for loopback HTTPS servers standing in for an apiserver, made with openssl (as the
// test bed's PKI is, testbed/lib/certs.ts): a trusted CA, another CA, and server certificates
// that are good, expired, for another host, or self-signed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Pki {
  dir: string;
  ca: string;
  otherCa: string;
  /** PEM pairs of server certificates. */
  servers: Record<'good' | 'expired' | 'wrongHost' | 'selfSigned' | 'otherCa', { cert: string; key: string }>;
}

const openssl = (cwd: string, args: string[]) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

const CA_CNF = `[ca]
default_ca = d
[d]
dir = .
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
`;

export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-'));
  const run = (args: string[]) => openssl(dir, args);
  const ca = (name: string) =>
    run([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
      '-subj', `/CN=${name}`, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]); // prettier-ignore
  ca('ca');
  ca('other-ca');
  fs.mkdirSync(path.join(dir, 'db'));
  fs.writeFileSync(path.join(dir, 'db', 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'db', 'serial'), '01\n');
  fs.writeFileSync(path.join(dir, 'ca.cnf'), CA_CNF);
  const serverExt = (san: string) => `[ext]\nsubjectAltName = ${san}\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n`;
  const signed = (name: string, caName: string, san: string, dates: string[]) => {
    run([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    ]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), serverExt(san));
    run([
      'ca', '-batch', '-config', 'ca.cnf', '-cert', `${caName}.crt`, '-keyfile', `${caName}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`,
      '-extfile', `${name}.ext`, '-extensions', 'ext', '-notext', ...dates,
    ]); // prettier-ignore
  };
  signed('good', 'ca', 'IP:127.0.0.1', ['-days', '30']);
  signed('expired', 'ca', 'IP:127.0.0.1', ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
  signed('wrong-host', 'ca', 'DNS:other.example', ['-days', '30']);
  signed('by-other-ca', 'other-ca', 'IP:127.0.0.1', ['-days', '30']);
  run([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'self.key', '-out', 'self.crt',
    '-subj', '/CN=self', '-days', '30', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]); // prettier-ignore
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  const pair = (name: string) => ({ cert: read(`${name}.crt`), key: read(`${name}.key`) });
  return {
    dir,
    ca: read('ca.crt'),
    otherCa: read('other-ca.crt'),
    servers: { good: pair('good'), expired: pair('expired'), wrongHost: pair('wrong-host'), selfSigned: pair('self'), otherCa: pair('by-other-ca') },
  };
}

/** A kubeconfig for https://127.0.0.1:port trusting `ca` (none: the system's trust store). */
export function tlsKubeconfig(port: number, ca?: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kc-tls-')), 'config');
  const caLine = ca ? `, certificate-authority-data: ${Buffer.from(ca).toString('base64')}` : '';
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${port}"${caLine} } }]
users: [{ name: u, user: { token: tls-test-token-123 } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
  );
  return file;
}

/** A CA and a server certificate it signs for `san` (e.g. "IP:172.18.0.1"), as PEM files in a new directory. */
export function makeServerPki(san: string): { dir: string; caFile: string; certFile: string; keyFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-server-'));
  const run = (args: string[]) => openssl(dir, args);
  run([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-subj', '/CN=gac-test-ca', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
  run([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
    '-subj', '/CN=gac-test-server',
  ]); // prettier-ignore
  fs.writeFileSync(path.join(dir, 'server.ext'), `subjectAltName = ${san}\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n`);
  run([
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '30',
    '-extfile', 'server.ext',
  ]); // prettier-ignore
  return { dir, caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
}
