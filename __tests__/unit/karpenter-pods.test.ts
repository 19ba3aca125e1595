// Decisions of the ko modes' install: a Karpenter pod running, crashing or still starting; feature
// gates for the chart; the user's values under the action's; a Karpenter the run did not make;
// registry credentials for the "already built" check.
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRunNodeClaim } from '../../src/checks/capacity.js';
import { foreignKarpenter } from '../../src/checks/foreign.js';
import { countPullRefusals, karpenterPodsVerdict, karpenterPodVerdict, type PodLike, type PullRefusals } from '../../src/checks/karpenter.js';
import { chartFeatureGates, mergeValues } from '../../src/karpenter/values.js';
import { dockerAuthFor, manifestPresent, parseChallenge } from '../../src/tools/registry.js';
import { buildFailureHint } from '../../src/karpenter/build.js';

const pod = (status: PodLike['status']): PodLike => ({ metadata: { name: 'karpenter-abc', namespace: 'kube-system' }, status });

describe('karpenterPodVerdict', () => {
  it('Ready is running', () => {
    expect(
      karpenterPodVerdict(
        pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'controller', ready: true, restartCount: 0 }] }),
      ),
    ).toEqual({
      state: 'running',
    });
  });
  it('a container that crashed once fails at once, with exit code and reason', () => {
    const v = karpenterPodVerdict(
      pod({
        phase: 'Running',
        containerStatuses: [
          {
            name: 'controller',
            ready: false,
            restartCount: 1,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 2, reason: 'Error' } },
          },
        ],
      }),
    );
    expect(v).toEqual({
      state: 'failed',
      reason: 'container controller of pod kube-system/karpenter-abc exited with code 2 (Error); restarts 1, now CrashLoopBackOff',
    });
  });
  it('an image that cannot be had fails at once', () => {
    const v = karpenterPodVerdict(
      pod({ phase: 'Pending', containerStatuses: [{ name: 'controller', state: { waiting: { reason: 'ErrImageNeverPull', message: 'image not present' } } }] }),
    );
    expect(v).toMatchObject({ state: 'failed', reason: expect.stringContaining('ErrImageNeverPull (image not present)') });
  });
  describe("a refused pull: the kubelet's second refusal fails, the first waits for its retry", () => {
    const answer = 'failed to pull and unpack image "reg:5000/karpenter/kwok@sha256:ab": 401 Unauthorized';
    const pulling = (reason?: string, message?: string) =>
      pod({ phase: 'Pending', containerStatuses: [{ name: 'controller', state: { waiting: reason ? { reason, message } : {} } }] });
    /** The counts and verdicts after each look, in turn, as a watch sees the pod. */
    const looks = (...pods: PodLike[]) => {
      let pulls: PullRefusals = new Map();
      return pods.map((p) => {
        pulls = countPullRefusals(pulls, [p]);
        return { count: pulls.get('kube-system/karpenter-abc/controller')?.count, verdict: karpenterPodVerdict(p, pulls) };
      });
    };

    it('counts a try each time the container enters ErrImagePull; an unchanged state seen again counts nothing', () => {
      const seen = looks(
        pulling('ContainerCreating'),
        pulling('ErrImagePull', answer),
        pulling('ErrImagePull', answer),
        pulling('ImagePullBackOff', `Back-off pulling image: ${answer}`),
        pulling('ErrImagePull', answer),
      );
      expect(seen.map((s) => s.count)).toEqual([undefined, 1, 1, 1, 2]);
      expect(seen.map((s) => s.verdict.state)).toEqual(['starting', 'starting', 'starting', 'starting', 'failed']);
      // While the retry is awaited the wait's state names the registry's answer.
      expect(seen[1]!.verdict).toMatchObject({ detail: expect.stringContaining(`ErrImagePull, pull refused once, the kubelet tries again: ${answer}`) });
      expect(seen[4]!.verdict).toEqual({
        state: 'failed',
        reason: `container controller of pod kube-system/karpenter-abc: ErrImagePull (${answer}); pull refused 2 times`,
      });
    });

    it('a container first seen backing off has been refused once; its next ErrImagePull is the second', () => {
      expect(looks(pulling('ImagePullBackOff'), pulling('ImagePullBackOff'), pulling('ErrImagePull', answer)).map((s) => s.count)).toEqual([1, 1, 2]);
    });

    it('a pull that succeeds on its retry leaves the pod starting, then running', () => {
      const seen = looks(
        pulling('ErrImagePull', answer),
        pulling('ImagePullBackOff'),
        pulling('ContainerCreating'),
        pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
      );
      expect(seen.map((s) => s.verdict.state)).toEqual(['starting', 'starting', 'starting', 'running']);
    });

    it('counts per container: two pods refused once each have not been refused twice', () => {
      const other = (reason: string) => ({ ...pulling(reason, answer), metadata: { name: 'karpenter-def', namespace: 'kube-system' } });
      const pulls = countPullRefusals(countPullRefusals(new Map(), [pulling('ErrImagePull', answer), other('ImagePullBackOff')]), [
        pulling('ImagePullBackOff'),
        other('ImagePullBackOff'),
      ]);
      expect(karpenterPodsVerdict([pulling('ImagePullBackOff'), other('ImagePullBackOff')], pulls).state).toBe('starting');
    });

    it('without a history (one look, as existing mode takes) a refused pull fails at once', () => {
      expect(karpenterPodVerdict(pulling('ErrImagePull', answer))).toEqual({
        state: 'failed',
        reason: `container controller of pod kube-system/karpenter-abc: ErrImagePull (${answer})`,
      });
    });

    it('an image that can never be pulled fails at once even with a history', () => {
      const p = pulling('ErrImageNeverPull', 'image not present');
      expect(karpenterPodVerdict(p, countPullRefusals(new Map(), [p])).state).toBe('failed');
    });
  });
  it('a pod still being made is starting, saying what it waits for', () => {
    const v = karpenterPodVerdict(pod({ phase: 'Pending', containerStatuses: [{ name: 'controller', state: { waiting: { reason: 'ContainerCreating' } } }] }));
    expect(v).toMatchObject({ state: 'starting', detail: expect.stringContaining('Pending (ContainerCreating)') });
  });
  it('over a Deployment: any running pod wins, else the first failure, else starting', () => {
    const ready = pod({ conditions: [{ type: 'Ready', status: 'True' }] });
    const crashed = pod({ containerStatuses: [{ name: 'controller', restartCount: 3 }] });
    expect(karpenterPodsVerdict([crashed, ready]).state).toBe('running');
    expect(karpenterPodsVerdict([crashed]).state).toBe('failed');
    expect(karpenterPodsVerdict([])).toEqual({ state: 'starting', detail: 'no pod yet' });
  });
});

describe('chartFeatureGates', () => {
  const template =
    'value: "StaticCapacity={{ .Values.settings.featureGates.staticCapacity }},NodeRepair={{ .Values.settings.featureGates.nodeRepair }},X={{ .Values.settings.featureGates.capacityBuffer }}"';
  it("gives every gate the template renders a value: the chart's default, else false", () => {
    expect(chartFeatureGates(template, 'settings:\n  featureGates:\n    nodeRepair: true\n')).toEqual({
      staticCapacity: false,
      nodeRepair: true,
      capacityBuffer: false,
    });
    expect(chartFeatureGates(template, '')).toEqual({ staticCapacity: false, nodeRepair: false, capacityBuffer: false });
  });
});

describe('mergeValues', () => {
  it("lays the action's values over the user's and names the keys the user lost", () => {
    const user = {
      replicas: 1,
      settings: { batchMaxDuration: '20s', featureGates: { nodeRepair: true } },
      controller: { resources: { limits: { memory: '2Gi' } } },
    };
    const ours = { settings: { featureGates: { nodeRepair: false, staticCapacity: false } }, controller: { image: { repository: 'kind.local/kwok' } } };
    const { values, overridden } = mergeValues(user, ours);
    expect(values).toEqual({
      replicas: 1,
      settings: { batchMaxDuration: '20s', featureGates: { nodeRepair: false, staticCapacity: false } },
      controller: { resources: { limits: { memory: '2Gi' } }, image: { repository: 'kind.local/kwok' } },
    });
    expect(overridden).toEqual(['settings.featureGates.nodeRepair']);
  });
});

describe('foreignKarpenter', () => {
  const KEY = 'gpu-autoscaling-conformance/run-id';
  it('names CRDs, Deployments and NodePools without the run label key, with who manages them', () => {
    const found = foreignKarpenter(
      {
        crds: [
          { metadata: { name: 'nodepools.karpenter.sh', labels: { 'app.kubernetes.io/managed-by': 'Helm' } } },
          { metadata: { name: 'nodeclaims.karpenter.sh', labels: { [KEY]: 'r1' } } },
          { metadata: { name: 'widgets.example.com' } },
        ],
        deployments: [{ metadata: { name: 'karpenter', namespace: 'karpenter' } }],
        nodePools: [{ metadata: { name: 'default' } }, { metadata: { name: 'gpu', labels: { [KEY]: 'r2' } } }],
      },
      KEY,
    );
    expect(found).toEqual(['CustomResourceDefinition nodepools.karpenter.sh (managed by Helm)', 'Deployment karpenter/karpenter', 'NodePool default']);
  });
  it('says when a found object is being deleted: an earlier installation going, not a live one', () => {
    const at = new Date('2026-12-08T03:00:00Z');
    const found = foreignKarpenter(
      {
        crds: [
          { metadata: { name: 'nodeclaims.karpenter.sh', deletionTimestamp: at, labels: { 'app.kubernetes.io/managed-by': 'gpu-autoscaling-conformance' } } },
        ],
        deployments: [],
        nodePools: [{ metadata: { name: 'default', deletionTimestamp: at } }],
      },
      KEY,
    );
    expect(found).toEqual([
      'CustomResourceDefinition nodeclaims.karpenter.sh (managed by gpu-autoscaling-conformance; being deleted since 2026-12-08T03:00:00.000Z)',
      'NodePool default (being deleted since 2026-12-08T03:00:00.000Z)',
    ]);
  });
});

describe('registry credentials for the "already built" check', () => {
  it('reads docker config auths by host', () => {
    const config = JSON.stringify({
      auths: { 'ghcr.io': { auth: Buffer.from('u:p').toString('base64') }, 'https://r.example': { username: 'a', password: 'b' } },
    });
    expect(dockerAuthFor(config, 'ghcr.io')).toBe('u:p');
    expect(dockerAuthFor(config, 'r.example')).toBe('a:b');
    expect(dockerAuthFor(config, 'other.io')).toBeUndefined();
    expect(dockerAuthFor('not json', 'ghcr.io')).toBeUndefined();
  });
  it('parses a bearer challenge', () => {
    expect(parseChallenge('Bearer realm="https://a/token",service="reg",scope="repository:o/k:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://a/token', service: 'reg', scope: 'repository:o/k:pull' },
    });
  });
  it('asks with the runner credentials after a 401; without them the answer is unknown, not absent', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
      if (req.url?.startsWith('/token')) {
        if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) return res.writeHead(401).end();
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't0k' }));
      }
      if (req.headers.authorization === 'Bearer t0k') return res.writeHead(req.url?.endsWith('/missing') ? 404 : 200).end();
      const port = (server.address() as { port: number }).port;
      return res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="reg",scope="repository:k/kwok:pull"` }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'docker-config-'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from('u:p').toString('base64') } } }));
      expect(await manifestPresent(`${host}/k/kwok:v1`, { env: { DOCKER_CONFIG: dir } })).toBe('present');
      expect(await manifestPresent(`${host}/k/kwok:missing`, { env: { DOCKER_CONFIG: dir } })).toBe('absent');
      const empty = mkdtempSync(join(tmpdir(), 'docker-config-'));
      expect(await manifestPresent(`${host}/k/kwok:v1`, { env: { DOCKER_CONFIG: empty } })).toEqual({
        unknown: expect.stringContaining('token service answered HTTP 401'),
      });
      expect(seen.some((l) => l.includes('Bearer t0k'))).toBe(true);
      // Credentials the token service turns down are refused, said at once (the push would fail the same way).
      const wrong = mkdtempSync(join(tmpdir(), 'docker-config-'));
      writeFileSync(join(wrong, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from('u:wrong').toString('base64') } } }));
      expect(await manifestPresent(`${host}/k/kwok:v1`, { env: { DOCKER_CONFIG: wrong } })).toEqual({
        refused: expect.stringContaining(`token service answered HTTP 401 to the credentials docker's config.json has for ${host}`),
      });
    } finally {
      server.close();
    }
  });
  it('says a registry refused the credentials (Basic) apart from not knowing', async () => {
    const server = createServer((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`) return res.writeHead(200).end();
      return res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const configWith = (auth: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'docker-config-'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(auth).toString('base64') } } }));
      return { DOCKER_CONFIG: dir };
    };
    try {
      expect(await manifestPresent(`${host}/k/kwok:v1`, { env: configWith('u:p') })).toBe('present');
      expect(await manifestPresent(`${host}/k/kwok:v1`, { env: configWith('u:wrong') })).toEqual({
        refused: `${host} answered HTTP 401 to the credentials docker's config.json has for it`,
      });
    } finally {
      server.close();
    }
  });
  it("names credentials, not Go, when ko's push was refused", () => {
    expect(buildFailureHint('ko build: HEAD https://r:5000/v2/k/manifests/latest: unexpected status code 401 Unauthorized')).toContain(
      'registry credentials ko pushes with',
    );
    expect(buildFailureHint('go: module sigs.k8s.io/karpenter@v9.9.9: not found')).toContain('Go module proxy');
  });
});

describe("a NodeClaim is the run's", () => {
  const KEY = 'gpu-autoscaling-conformance/run-id';
  const claim = (run: string | undefined, created: string) => ({
    metadata: { name: 'c', creationTimestamp: created as unknown as Date, labels: { 'karpenter.sh/nodepool': 'gpu', ...(run ? { [KEY]: run } : {}) } },
  });
  const id = { pool: 'gpu', runLabel: { key: KEY, value: 'r2' }, since: '2026-12-07T11:00:00Z' };
  it("on the run's own pool by its label", () => {
    expect(isRunNodeClaim(claim('r2', '2026-12-07T10:00:00Z'), { ...id, poolIsRuns: true })).toBe(true);
    expect(isRunNodeClaim(claim('r1', '2026-12-07T11:05:00Z'), { ...id, poolIsRuns: true })).toBe(false);
  });
  it("on a pool another run kept (keep-installed), by time: the pool's label names its maker, not the run", () => {
    expect(isRunNodeClaim(claim('r1', '2026-12-07T11:05:00Z'), { ...id, poolIsRuns: false })).toBe(true);
    expect(isRunNodeClaim(claim('r1', '2026-12-07T10:55:00Z'), { ...id, poolIsRuns: false })).toBe(false);
  });
});
