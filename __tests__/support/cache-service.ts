// A loopback stand-in for GitHub's Actions cache service (version 2), speaking the protocol the
// real @actions/cache client uses: Twirp JSON GetCacheEntryDownloadURL, CreateCacheEntry and
// FinalizeCacheEntryUpload at ACTIONS_RESULTS_URL, with the archive PUT to and GET from a signed
// blob URL (the Azure blob handling of the results-service stand-in). It keeps the entries so a
// test can see what was saved, and can fail (HTTP 500) or serve a damaged archive on demand.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { blobStore, fakeRuntimeToken, readBody } from './results-service.js';

const TWIRP = '/twirp/github.actions.results.api.v1.CacheService/';

export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  /** Set by FinalizeCacheEntryUpload: only a finalized entry is found. */
  finalized: boolean;
  sizeBytes?: number;
  blobPath: string;
}

export interface CacheService {
  url: string;
  entries: CacheEntry[];
  /** Every request: "POST <method>" for Twirp, "PUT|GET blob" for the archive. */
  requests: string[];
  /** The committed archive of an entry. */
  archive(entry: CacheEntry): Buffer | undefined;
  /** Answer every request with this HTTP status (500: the service is failing); undefined answers normally. */
  failWith?: number;
  /** Serve archives cut to this many bytes (a truncated download whose length header says so). */
  truncateTo?: number;
  /** Env the client needs: the version-2 service at ACTIONS_RESULTS_URL and a runtime token. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * `forward`: where requests for the other services at ACTIONS_RESULTS_URL go (the artifact
 * stand-in's URL), so one run can both use the cache and upload its evidence, as on a runner.
 */
export async function startCacheService(opts: { forward?: string } = {}): Promise<CacheService> {
  const entries: CacheEntry[] = [];
  const requests: string[] = [];
  const store = blobStore();
  let nextId = 1;

  const server = http.createServer(async (req, res): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    const twirp = url.pathname.startsWith(TWIRP) ? url.pathname.slice(TWIRP.length) : undefined;
    requests.push(twirp ? `POST ${twirp}` : `${req.method} blob`);
    const json = (status: number, obj: object): void => void res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(obj));
    if (service.failWith) return json(service.failWith, { code: 'internal', msg: 'the stand-in is failing on purpose' });

    if (req.method === 'POST' && twirp) {
      // protobuf-ts sends JSON names (camelCase); the proto names are accepted as well.
      const r = JSON.parse(body.toString() || '{}') as Record<string, unknown>;
      const key = String(r.key ?? '');
      const version = String(r.version ?? '');
      if (twirp === 'GetCacheEntryDownloadURL') {
        const restoreKeys = (r.restoreKeys ?? r.restore_keys ?? []) as string[];
        const ready = entries.filter((e) => e.finalized && e.version === version).reverse();
        const hit = ready.find((e) => e.key === key) ?? restoreKeys.map((k) => ready.find((e) => e.key.startsWith(k))).find(Boolean);
        if (!hit) return json(200, { ok: false, signedDownloadUrl: '', matchedKey: '' });
        return json(200, { ok: true, signedDownloadUrl: `${service.url}${hit.blobPath}?sig=stand-in-read`, matchedKey: hit.key });
      }
      if (twirp === 'CreateCacheEntry') {
        if (entries.some((e) => e.key === key && e.version === version && e.finalized)) {
          return json(409, { code: 'already_exists', msg: 'cache entry with the same key, version, and scope already exists' });
        }
        const entry: CacheEntry = { id: nextId++, key, version, finalized: false, blobPath: `/devstoreaccount1/actions-cache/${nextId}.tzst` };
        entries.push(entry);
        return json(200, { ok: true, signedUploadUrl: `${service.url}${entry.blobPath}?sig=stand-in-write` });
      }
      if (twirp === 'FinalizeCacheEntryUpload') {
        const entry = entries.find((e) => e.key === key && e.version === version && !e.finalized);
        if (!entry || !store.blobs.has(entry.blobPath)) return json(200, { ok: false, entryId: '0', message: 'no upload for this entry' });
        entry.finalized = true;
        entry.sizeBytes = Number(r.sizeBytes ?? r.size_bytes ?? 0);
        return json(200, { ok: true, entryId: String(entry.id) });
      }
      return json(404, { code: 'bad_route', msg: `no method ${twirp}` });
    }

    if (url.pathname.startsWith('/devstoreaccount1/actions-cache/')) {
      const blob = store.blobs.get(url.pathname);
      if (req.method === 'GET' && blob && service.truncateTo !== undefined) {
        const cut = blob.subarray(0, service.truncateTo);
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(cut.length) }).end(cut);
        return;
      }
      if (store.handle(req, url, body, res)) return;
    }
    if (opts.forward && !twirp && url.pathname.startsWith('/twirp/')) return forward(opts.forward, req, body, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const service: CacheService = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    entries,
    requests,
    archive: (e) => store.blobs.get(e.blobPath),
    env: {},
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  service.env = {
    ACTIONS_RUNTIME_TOKEN: fakeRuntimeToken('run-cache-1', 'job-cache-1'),
    ACTIONS_RESULTS_URL: `${service.url}/`,
    ACTIONS_CACHE_SERVICE_V2: 'true',
  };
  return service;
}

/** Sends a request on to another loopback server as it came, and its answer back. */
function forward(to: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
  const target = new URL(req.url ?? '/', to);
  const out = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => res.writeHead(502).end());
  out.end(body);
}
