// Secrets of the kubeconfig in use: masked in logs with core.setSecret and scrubbed from evidence.
import type * as k8s from '@kubernetes/client-node';

/** Every credential string a KubeConfig holds (tokens, passwords, client keys, both encoded and decoded). */
export function kubeconfigSecrets(kc: k8s.KubeConfig): string[] {
  const found = new Set<string>();
  const add = (v: string | undefined) => {
    if (!v || v.length < 8) return;
    found.add(v);
    // Base64 *-data fields also appear decoded (PEM), line by line in logs.
    if (/^[A-Za-z0-9+/=\s]+$/.test(v) && v.length % 4 === 0) {
      const decoded = Buffer.from(v, 'base64').toString('utf8');
      if (decoded.includes('PRIVATE KEY')) {
        found.add(decoded);
        for (const line of decoded.split('\n')) if (line.length >= 16 && !line.startsWith('-----')) found.add(line);
      }
    }
  };
  for (const user of kc.getUsers()) {
    add(user.token);
    add(user.password);
    add(user.keyData);
  }
  return [...found];
}

/** Replaces every secret in text with ***. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}
