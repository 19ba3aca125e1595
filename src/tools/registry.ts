// Asks an OCI registry whether an image manifest is there, with the credentials the runner has
// (docker's config.json, as `docker login` and docker/login-action write it): registries such as
// ghcr.io and Docker Hub answer 401 to anonymous requests, which is "unknown", not "absent".
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseImageRef } from './karpenter.js';

/**
 * `refused`: the registry turned down the credentials docker's config.json has for it (a wrong
 * or expired token): the push would fail the same way, so it is said at once.
 */
export type ManifestAnswer = 'present' | 'absent' | { unknown: string } | { refused: string };

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** The registry API URL of an image's manifest (plain http for loopback registries, as ko does). Pure. */
export function manifestUrl(image: string): string | undefined {
  const ref = parseImageRef(image);
  const slash = ref.repository.indexOf('/');
  if (slash < 0) return undefined;
  const host = ref.repository.slice(0, slash);
  const path = ref.repository.slice(slash + 1);
  const reference = ref.digest ?? ref.tag;
  if (!reference) return undefined;
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
  return `${loopback ? 'http' : 'https'}://${host}/v2/${path}/manifests/${reference}`;
}

/** user:password for a registry host from docker's config.json (`auths.<host>.auth`), if any. Pure over the file's text. */
export function dockerAuthFor(configJson: string, host: string): string | undefined {
  let auths: Record<string, { auth?: string; username?: string; password?: string }>;
  try {
    auths = (JSON.parse(configJson) as { auths?: typeof auths }).auths ?? {};
  } catch {
    return undefined;
  }
  const entry = auths[host] ?? auths[`https://${host}`] ?? auths[`http://${host}`];
  if (entry?.auth) return Buffer.from(entry.auth, 'base64').toString('utf8');
  if (entry?.username && entry.password) return `${entry.username}:${entry.password}`;
  return undefined;
}

/** docker's config.json as the docker CLI finds it: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigText(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** `Bearer realm="...",service="...",scope="..."` -> its parameters. Pure. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const [scheme = '', ...rest] = header.trim().split(/\s+/);
  const params: Record<string, string> = {};
  for (const m of rest.join(' ').matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme: scheme.toLowerCase(), params };
}

/**
 * HEAD of the image's manifest with the runner's registry credentials: Basic where the registry
 * asks for it, else the token flow of the Distribution spec (realm, service, scope).
 */
export async function manifestPresent(image: string, opts: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): Promise<ManifestAnswer> {
  const url = manifestUrl(image);
  if (!url) return { unknown: `${image} names no registry host or tag` };
  const host = new URL(url).host;
  const head = (authorization?: string) =>
    fetch(url, { method: 'HEAD', signal: opts.signal, headers: { Accept: ACCEPT, ...(authorization ? { Authorization: authorization } : {}) } });
  try {
    let r = await head();
    if (r.status === 401) {
      const creds = (() => {
        const text = dockerConfigText(opts.env);
        return text ? dockerAuthFor(text, host) : undefined;
      })();
      const challenge = parseChallenge(r.headers.get('www-authenticate') ?? '');
      const basic = creds ? `Basic ${Buffer.from(creds).toString('base64')}` : undefined;
      if (challenge.scheme === 'basic') {
        if (!basic) return { unknown: `${host} asks for credentials and docker's config.json has none for it` };
        r = await head(basic);
        if (r.status === 401 || r.status === 403) return { refused: `${host} answered HTTP ${r.status} to the credentials docker's config.json has for it` };
      } else if (challenge.scheme === 'bearer' && challenge.params.realm) {
        const tokenUrl = new URL(challenge.params.realm);
        for (const k of ['service', 'scope']) if (challenge.params[k]) tokenUrl.searchParams.set(k, challenge.params[k]!);
        const t = await fetch(tokenUrl, { signal: opts.signal, headers: basic ? { Authorization: basic } : {} });
        if (!t.ok)
          return basic && (t.status === 401 || t.status === 403)
            ? { refused: `${host}'s token service answered HTTP ${t.status} to the credentials docker's config.json has for ${host}` }
            : { unknown: `${host}'s token service answered HTTP ${t.status}${basic ? '' : ' (no credentials for it in docker config.json)'}` };
        const body = (await t.json()) as { token?: string; access_token?: string };
        r = await head(`Bearer ${body.token ?? body.access_token ?? ''}`);
      }
    }
    if (r.ok) return 'present';
    if (r.status === 404) return 'absent';
    return { unknown: `${host} answered HTTP ${r.status} to HEAD ${new URL(url).pathname}` };
  } catch (e) {
    return { unknown: `${host} did not answer: ${(e as Error).message}` };
  }
}
