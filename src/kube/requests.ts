// Counts the API requests this process makes, by verb and resource, so a benchmark can show
// how the action's load on the apiserver grows with the scale (kube-apiserver's own
// apiserver_request_total has no user-agent label). Written, one JSON line per process, to the
// file named by GAC_API_COUNT_FILE when the process exits; nothing is written without it.
import * as fs from 'node:fs';

export const API_COUNT_FILE_ENV = 'GAC_API_COUNT_FILE';

const counts = new Map<string, number>();
let exitHook = false;

/**
 * "VERB resource[/subresource][.group]" for an API URL: LIST and WATCH for collections, GET for
 * one object; object names and namespaces are dropped so the keys stay few. Pure.
 */
export function requestKind(method: string, url: string): string {
  const u = new URL(url);
  const parts = u.pathname.split('/').filter(Boolean);
  let group = '';
  let rest: string[];
  if (parts[0] === 'api') rest = parts.slice(2);
  else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else return `${method} /${parts.join('/')}`;
  if (rest.length === 0) return `${method} discovery${group ? `.${group}` : ''}`;
  // namespaces/<ns>/<resource>... (but /api/v1/namespaces/<name> is the Namespace itself)
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, sub] = rest;
  const verb = method === 'GET' ? (u.searchParams.get('watch') === 'true' ? 'WATCH' : name === undefined ? 'LIST' : 'GET') : method;
  return `${verb} ${resource}${sub ? `/${sub}` : ''}${group ? `.${group}` : ''}`;
}

/** Counts one request; arms the exit hook on the first one when GAC_API_COUNT_FILE is set. */
export function countRequest(method: string, url: string): void {
  const kind = requestKind(method, url);
  counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const file = process.env[API_COUNT_FILE_ENV];
  if (file && !exitHook) {
    exitHook = true;
    process.on('exit', () => fs.appendFileSync(file, `${JSON.stringify({ pid: process.pid, ...requestCounts() })}\n`));
  }
}

/** The requests counted so far: total and per kind, most frequent first. */
export function requestCounts(): { total: number; byKind: Record<string, number> } {
  const byKind = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
  return { total: [...counts.values()].reduce((a, b) => a + b, 0), byKind };
}
