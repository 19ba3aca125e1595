// Secrets of the kubeconfig in use: masked in logs with core.setSecret and scrubbed from evidence.
// Two kinds: what the kubeconfig file holds (tokens, passwords, client keys, OIDC tokens, token
// and key files), found when it is loaded; and what it produces at request time (an exec
// plugin's token or client key, a refreshed OIDC id-token, a token file read again), registered
// by the client as each request is authenticated (src/kube/client.ts).
import * as fs from 'node:fs';
import * as core from '@actions/core';
import type * as k8s from '@kubernetes/client-node';

/** Shorter strings are not masked: they would blank out ordinary words in logs. */
const MIN_SECRET_LENGTH = 8;

/** The forms one credential takes in logs: itself, and a PEM's lines when it is (or base64-encodes) a private key. Pure. */
export function secretForms(value: string | undefined | null): string[] {
  if (!value) return [];
  const v = value.trim();
  if (v.length < MIN_SECRET_LENGTH) return [];
  const forms = new Set<string>([v]);
  if (value !== v && value.length >= MIN_SECRET_LENGTH) forms.add(value);
  const pemLines = (pem: string) => {
    forms.add(pem);
    for (const line of pem.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) forms.add(line);
  };
  if (v.includes('PRIVATE KEY')) pemLines(v);
  // Base64 *-data fields also appear decoded (PEM), line by line in logs.
  else if (/^[A-Za-z0-9+/=\s]+$/.test(v) && v.replace(/\s/g, '').length % 4 === 0) {
    const decoded = Buffer.from(v, 'base64').toString('utf8');
    if (decoded.includes('PRIVATE KEY')) pemLines(decoded);
  }
  return [...forms];
}

const readIfFile = (file: unknown): string | undefined => {
  if (typeof file !== 'string' || !file) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** Names in an auth-provider config or exec env whose values are credentials. */
const SECRET_NAME = /token|secret|password|passwd|credential|key/i;

/** Auth-provider settings named like credentials that only say where to find them (gcp's JSONPath keys). */
const NOT_SECRET = /^(token-key|expiry-key|cmd-path|cmd-args)$/;

/** Every credential string a KubeConfig holds (tokens, passwords, client keys, OIDC and auth-provider tokens, token and key files, both encoded and decoded). */
export function kubeconfigSecrets(kc: k8s.KubeConfig): string[] {
  const found = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v === 'string') for (const f of secretForms(v)) found.add(f);
  };
  for (const user of kc.getUsers()) {
    add(user.token);
    add(user.password);
    if (user.username && user.password) add(Buffer.from(`${user.username}:${user.password}`).toString('base64'));
    add(user.keyData);
    add(readIfFile(user.keyFile));
    // tokenFile is not in the library's User type, but kubeconfigs carry it.
    add(readIfFile((user as { tokenFile?: string }).tokenFile));
    // auth-provider: oidc (id-token, refresh-token, client-secret), gcp (access-token), azure, tokenFile.
    const providerConfig = (user.authProvider as { config?: Record<string, unknown> } | undefined)?.config ?? {};
    for (const [name, value] of Object.entries(providerConfig)) {
      if (name === 'tokenFile') add(readIfFile(value));
      else if (SECRET_NAME.test(name) && !NOT_SECRET.test(name)) add(value);
    }
    // exec plugin env set in the kubeconfig (e.g. a token passed to the plugin).
    const exec = (user.exec ?? (providerConfig.exec as k8s.User['exec'] | undefined)) as { env?: { name: string; value: string }[] } | undefined;
    for (const e of exec?.env ?? []) if (SECRET_NAME.test(e.name)) add(e.value);
  }
  return [...found];
}

/** Every secret registered in this process: what main or post masks in logs and scrubs from the evidence. */
const known = new Set<string>();

/** Masks each value in the log (core.setSecret) and keeps it for redact(); returns how many were new. */
export function registerSecrets(values: readonly string[]): number {
  let added = 0;
  for (const v of values) {
    if (!v || known.has(v)) continue;
    known.add(v);
    core.setSecret(v);
    added++;
  }
  return added;
}

/** Masks a credential produced at request time (every form of it). */
export function registerSecret(value: string | undefined | null): void {
  registerSecrets(secretForms(value));
}

/** The secrets registered so far, longest first (so a secret containing another is redacted whole). */
export function knownSecrets(): string[] {
  return [...known].sort((a, b) => b.length - a.length);
}

/** For tests: forget what was registered. */
export function forgetSecrets(): void {
  known.clear();
}

/** Replaces every secret in text with ***. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}
