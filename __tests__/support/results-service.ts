// A loopback stand-in for GitHub's Actions Results service, speaking the protocol the real
// @actions/artifact client uses: Twirp JSON CreateArtifact -> Azure blob block + blocklist PUTs
// -> FinalizeArtifact. It keeps what arrived so a test can unzip and hash it.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

const TWIRP = '/twirp/github.actions.results.api.v1.ArtifactService/';

export interface ReceivedArtifact {
  name: string;
  createRequest: Record<string, unknown>;
  finalizeRequest?: Record<string, unknown>;
  blob?: Buffer;
  id: number;
}

export interface ResultsService {
  url: string;
  artifacts: ReceivedArtifact[];
  requests: string[];
  /** Env the client needs: a JWT (decoded, not verified) whose scope names the run and job. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export function fakeRuntimeToken(runId: string, jobId: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ scp: `Actions.GenericRead Actions.Results:${runId}:${jobId}` })}.sig`;
}

/**
 * Azure blob storage at signed URLs, as the Azure SDK and the toolkit's HTTP client use it: a
 * single-shot PUT, or block PUTs (comp=block) committed by a block list (comp=blocklist), and GET
 * of a committed blob. Shared by the results and cache service stand-ins.
 */
export interface BlobStore {
  /** Committed blobs by URL path. */
  blobs: Map<string, Buffer>;
  /** Answers a PUT or GET of a blob; false when the request is neither. */
  handle(req: http.IncomingMessage, url: URL, body: Buffer, res: http.ServerResponse): boolean;
}

export function blobStore(onCommit: (path: string, blob: Buffer) => void = () => undefined): BlobStore {
  const blocks = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  let requestId = 0;
  const commit = (path: string, blob: Buffer) => {
    blobs.set(path, blob);
    onCommit(path, blob);
  };
  return {
    blobs,
    handle(req, url, body, res) {
      const headers = { 'x-ms-request-id': String(++requestId), 'x-ms-version': '2025-01-05', ETag: '"0x1"', 'Last-Modified': new Date().toUTCString() };
      const comp = url.searchParams.get('comp');
      if (req.method === 'PUT' && comp === 'block') {
        blocks.set(`${url.pathname}/${url.searchParams.get('blockid')}`, body);
        res.writeHead(201, headers).end();
        return true;
      }
      if (req.method === 'PUT' && comp === 'blocklist') {
        const ids = [...body.toString().matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]+)</g)].map((m) => m[1]!);
        commit(url.pathname, Buffer.concat(ids.map((b) => blocks.get(`${url.pathname}/${b}`) ?? Buffer.alloc(0))));
        res.writeHead(201, headers).end();
        return true;
      }
      if (req.method === 'PUT' && !comp) {
        commit(url.pathname, body);
        res.writeHead(201, headers).end();
        return true;
      }
      if (req.method === 'GET' && !comp) {
        const blob = blobs.get(url.pathname);
        if (!blob) res.writeHead(404, { ...headers, 'x-ms-error-code': 'BlobNotFound' }).end();
        else res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) }).end(blob);
        return true;
      }
      return false;
    },
  };
}

export const readBody = (req: http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => resolve(Buffer.concat(chunks)))
      .on('error', reject);
  });

export async function startResultsService(): Promise<ResultsService> {
  const artifacts: ReceivedArtifact[] = [];
  const requests: string[] = [];
  const store = blobStore((path, blob) => {
    const artifact = artifacts.find((a) => `/devstoreaccount1/artifacts/${a.id}.zip` === path);
    if (artifact) artifact.blob = blob;
  });
  let nextId = 1000;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    requests.push(`${req.method} ${url.pathname}${url.search ? `?comp=${url.searchParams.get('comp') ?? ''}` : ''}`);
    const json = (status: number, obj: object) => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(obj));
    };
    if (req.method === 'POST' && url.pathname === `${TWIRP}CreateArtifact`) {
      const request = JSON.parse(body.toString()) as Record<string, unknown>;
      const artifact: ReceivedArtifact = { name: String(request.name), createRequest: request, id: nextId++ };
      artifacts.push(artifact);
      // IP-style blob URLs carry the account in the path: /<account>/<container>/<blob>.
      return json(200, { ok: true, signedUploadUrl: `${service.url}/devstoreaccount1/artifacts/${artifact.id}.zip?sig=stand-in` });
    }
    if (req.method === 'POST' && url.pathname === `${TWIRP}FinalizeArtifact`) {
      const request = JSON.parse(body.toString()) as Record<string, unknown>;
      const artifact = artifacts.find((a) => a.name === request.name && !a.finalizeRequest);
      if (!artifact) return json(404, { code: 'not_found', msg: 'no such artifact' });
      artifact.finalizeRequest = request;
      return json(200, { ok: true, artifactId: String(artifact.id) });
    }
    const blob = /^\/devstoreaccount1\/artifacts\/(\d+)\.zip$/.exec(url.pathname);
    // A commit needs the artifact CreateArtifact made; blocks may arrive first.
    const known = blob && (url.searchParams.get('comp') === 'block' || artifacts.some((a) => a.id === Number(blob[1])));
    if (req.method === 'PUT' && known && store.handle(req, url, body, res)) return;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const service: ResultsService = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    artifacts,
    requests,
    env: {},
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  service.env = { ACTIONS_RUNTIME_TOKEN: fakeRuntimeToken('run-backend-1', 'job-backend-1'), ACTIONS_RESULTS_URL: `${service.url}/` };
  return service;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
