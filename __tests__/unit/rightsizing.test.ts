// Right-sizing judges the placement as a whole, not only each node against the cheapest single
// type (issue 14, point 4): a p5.48xlarge holding three 1-GPU pods is the cheapest single node
// for them, and 3 × g5.xlarge is still 32 times cheaper.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  allowedShapes,
  cheapestPlacement,
  judgeRightSizing,
  nodePoolRequirements,
  podRequest,
  type NodeShape,
  type PodRequest,
} from '../../src/checks/rightsizing.js';
import type { InstanceTypeSpec } from '../../src/types.js';

const root = path.resolve(import.meta.dirname, '../..');
const defaults = JSON.parse(fs.readFileSync(path.join(root, 'manifests/instance-types.json'), 'utf8')) as InstanceTypeSpec[];
const shippedPool = parseAllDocuments(fs.readFileSync(path.join(root, 'manifests/nodepool.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);

/** A pod of the workload template: 10m CPU, 16Mi, `gpus` GPUs. */
const pod = (gpus: number): PodRequest => ({ gpus, cpu: 0.01, memory: 16 * 2 ** 20 });
const pods = (n: number, gpus = 1) => Array.from({ length: n }, () => pod(gpus));
const type = (name: string, price: number, gpus: number, cpu = 96, memory = '1Ti', extra: Partial<InstanceTypeSpec> = {}): InstanceTypeSpec => ({
  name,
  offerings: [{ Price: price, Available: true, Requirements: [{ key: 'karpenter.sh/capacity-type', operator: 'In', values: ['on-demand'] }] }],
  architecture: 'amd64',
  operatingSystems: ['linux'],
  resources: { cpu: String(cpu), memory, pods: '110', 'nvidia.com/gpu': String(gpus) },
  ...extra,
});

describe('judgeRightSizing: the two examples of the issue', () => {
  it('default instance types: a p5.48xlarge for three 1-GPU pods is the cheapest single node, not the cheapest placement', () => {
    const v = judgeRightSizing({
      types: defaults,
      nodePool: shippedPool,
      nodes: [{ node: 'gpu-abc', instanceType: 'p5.48xlarge', gpus: 8, pods: pods(3) }],
      gpusPerPod: 1,
      gpuLimit: 64,
    });
    expect(v.singleNodeCheapest).toBe(true);
    expect(v.placementCheapest).toBe(false);
    expect(v.ok).toBe(false);
    expect(v.actual).toEqual({ cost: 98.32, gpus: 8, nodes: [{ type: 'p5.48xlarge', count: 1 }] });
    expect(v.cheapest).toMatchObject({ gpus: 3, nodes: [{ type: 'g5.xlarge', count: 3 }], exact: true });
    expect(v.cheapest!.cost).toBeCloseTo(3.018, 6);
    expect(v.sentence).toBe(
      'cheapest single node per NodeClaim: yes; cheapest placement: no, 3 × g5.xlarge at $3.02/h against $98.32/h (1 × p5.48xlarge; 3 GPUs against 8)',
    );
    expect(v.typesConsidered.sort()).toEqual(['g5.2xlarge', 'g5.xlarge', 'p5.48xlarge']);
  });

  it('a custom pool: an a3-highgpu-8g for four 2-GPU pods against four g2-standard-24', () => {
    const types = [type('g2-standard-12', 1, 1), type('g2-standard-24', 2, 2), type('a3-highgpu-8g', 88.25, 8)];
    const v = judgeRightSizing({ types, nodes: [{ node: 'n1', instanceType: 'a3-highgpu-8g', gpus: 8, pods: pods(4, 2) }], gpusPerPod: 2 });
    expect(v.sentence).toBe(
      'cheapest single node per NodeClaim: yes; cheapest placement: no, 4 × g2-standard-24 at $8.00/h against $88.25/h (1 × a3-highgpu-8g; 8 GPUs against 8)',
    );
  });

  it('says yes to both when Karpenter made the cheapest nodes', () => {
    const v = judgeRightSizing({
      types: defaults,
      nodes: [
        { node: 'a', instanceType: 'g5.xlarge', gpus: 1, pods: pods(1) },
        { node: 'b', instanceType: 'g5.xlarge', gpus: 1, pods: pods(1) },
      ],
      gpusPerPod: 1,
    });
    expect(v).toMatchObject({ ok: true, singleNodeCheapest: true, placementCheapest: true });
    expect(v.sentence).toBe('cheapest single node per NodeClaim: yes; cheapest placement: yes, 2 × g5.xlarge at $2.01/h (2 GPUs)');
  });

  it('names the node that is not the cheapest single type, and a type it has no price for', () => {
    const v = judgeRightSizing({ types: defaults, nodes: [{ node: 'a', instanceType: 'g5.2xlarge', gpus: 1, pods: pods(1) }], gpusPerPod: 1 });
    expect(v.sentence).toBe(
      'cheapest single node per NodeClaim: no (a: g5.2xlarge, cheapest fit g5.xlarge); cheapest placement: no, 1 × g5.xlarge at $1.01/h against $1.21/h (1 × g5.2xlarge; 1 GPU against 1)',
    );
    const unknown = judgeRightSizing({ types: defaults, nodes: [{ node: 'a', instanceType: 'x9.huge', gpus: 1, pods: pods(1) }], gpusPerPod: 1 });
    expect(unknown.placementCheapest).toBeUndefined();
    expect(unknown.sentence).toContain('cheapest placement: not judged, no price for a (x9.huge) in the instance types');
  });
});

describe("the NodePool's instance types", () => {
  it('the shipped NodePool allows every default type (on-demand, amd64, linux)', () => {
    const { shapes, unapplied } = allowedShapes(defaults, nodePoolRequirements(shippedPool));
    expect(shapes.map((s) => [s.name, s.price, s.gpus])).toEqual([
      ['g5.xlarge', 1.006, 1],
      ['g5.2xlarge', 1.212, 1],
      ['p5.48xlarge', 98.32, 8],
    ]);
    expect(unapplied).toEqual([]);
  });
  it('applies instance-type, arch, os and offering requirements; lists those the file cannot answer', () => {
    const names = (reqs: { key: string; operator: string; values?: string[] }[]) => allowedShapes(defaults, reqs).shapes.map((s) => s.name);
    expect(names([{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['p5.48xlarge'] }])).toEqual(['p5.48xlarge']);
    expect(names([{ key: 'node.kubernetes.io/instance-type', operator: 'NotIn', values: ['p5.48xlarge'] }])).toEqual(['g5.xlarge', 'g5.2xlarge']);
    expect(names([{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] }])).toEqual([]);
    expect(names([{ key: 'karpenter.sh/capacity-type', operator: 'In', values: ['spot'] }])).toEqual([]);
    expect(names([{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['us-east-1b'] }])).toHaveLength(3);
    const r = allowedShapes(defaults, [{ key: 'karpenter.kwok.sh/instance-family', operator: 'In', values: ['g5'] }]);
    expect(r.shapes).toHaveLength(3);
    expect(r.unapplied).toEqual(['karpenter.kwok.sh/instance-family In g5']);
  });
  it('a NodePool limited to p5.48xlarge makes the p5 the cheapest placement', () => {
    const pool = structuredClone(shippedPool);
    (pool[0] as { spec: { template: { spec: { requirements: unknown[] } } } }).spec.template.spec.requirements.push({
      key: 'node.kubernetes.io/instance-type',
      operator: 'In',
      values: ['p5.48xlarge'],
    });
    const v = judgeRightSizing({ types: defaults, nodePool: pool, nodes: [{ node: 'n', instanceType: 'p5.48xlarge', gpus: 8, pods: pods(3) }], gpusPerPod: 1 });
    expect(v).toMatchObject({ ok: true, placementCheapest: true, typesConsidered: ['p5.48xlarge'] });
  });
});

describe('cheapestPlacement', () => {
  const shapes = allowedShapes(defaults, []).shapes;
  it('16 identical pods: exact and fast', () => {
    const started = Date.now();
    const p = cheapestPlacement(pods(16), shapes)!;
    expect(p).toMatchObject({ gpus: 16, nodes: [{ type: 'g5.xlarge', count: 16 }], exact: true });
    expect(Date.now() - started).toBeLessThan(2000);
    const eight = cheapestPlacement(pods(8, 8), shapes)!;
    expect(eight).toMatchObject({ gpus: 64, nodes: [{ type: 'p5.48xlarge', count: 8 }], exact: true });
  });
  it('respects the NodePool GPU limit', () => {
    expect(cheapestPlacement(pods(9, 8), shapes, { maxGpus: 64 })).toBeUndefined();
    expect(cheapestPlacement(pods(3), shapes, { maxGpus: 2 })).toBeUndefined();
  });
  it('counts CPU, memory and pod slots, not only GPUs', () => {
    const big = (gpus: number, cpu: number): PodRequest => ({ gpus, cpu, memory: 2 ** 30 });
    // A 6-core 1-GPU pod does not fit a 4-core g5.xlarge: a g5.2xlarge (8 cores) is the cheapest.
    expect(cheapestPlacement([big(1, 6)], shapes)).toMatchObject({ nodes: [{ type: 'g5.2xlarge', count: 1 }] });
    const slots: NodeShape[] = [{ name: 'tiny', price: 1, gpus: 8, cpu: 64, memory: 2 ** 40, pods: 2 }];
    expect(cheapestPlacement(pods(3), slots)).toMatchObject({ nodes: [{ type: 'tiny', count: 2 }] });
  });
  it('stops at maxSteps and says the placement is the best found (mixed pods)', () => {
    const mixed = [pod(1), { gpus: 1, cpu: 2, memory: 2 ** 30 }, pod(1), { gpus: 1, cpu: 3, memory: 2 ** 30 }, pod(1), pod(8)];
    const p = cheapestPlacement(mixed, shapes, { maxSteps: 3 });
    expect(p?.exact ?? false).toBe(false);
    expect(cheapestPlacement(mixed, shapes)).toMatchObject({ exact: true });
  });
  it('pods of one shape: exact by the knapsack, agreeing with the search, on random instance types', () => {
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 48271) % 2147483647), seed % n);
    for (let round = 0; round < 30; round++) {
      const types: NodeShape[] = Array.from({ length: 2 + rand(5) }, (_, i) => {
        const gpus = [1, 2, 4, 8][rand(4)]!;
        return { name: `t${i}`, price: gpus * (0.5 + rand(100) / 50) + rand(10), gpus, cpu: 4 * gpus, memory: 2 ** 34, pods: 3 + rand(8) };
      });
      const n = 1 + rand(7);
      const gpus = 1 + rand(3);
      const exact = cheapestPlacement(pods(n, gpus), types);
      const searched = bruteForce(pods(n, gpus), types);
      if (searched === undefined) expect(exact).toBeUndefined();
      else expect(exact!.cost).toBeCloseTo(searched, 9);
    }
  });
  it('stays fast on many types: one shape at once, mixed pods bounded', () => {
    const many: NodeShape[] = Array.from({ length: 60 }, (_, i) => {
      const gpus = [1, 2, 4, 8][i % 4]!;
      return { name: `t${i}`, price: gpus * (1 + ((i * 37) % 100) / 100) + (i % 7), gpus, cpu: 4 * gpus * (1 + (i % 3)), memory: 2 ** 34 * gpus, pods: 110 };
    });
    let started = Date.now();
    expect(cheapestPlacement(pods(32, 2), many)).toMatchObject({ exact: true });
    expect(Date.now() - started).toBeLessThan(100);
    started = Date.now();
    const mixed = Array.from({ length: 16 }, (_, i) => ({ gpus: 1 + (i % 2), cpu: 0.01 + (i % 3), memory: 2 ** 24 }));
    expect(cheapestPlacement(mixed, many)).toBeDefined();
    expect(Date.now() - started).toBeLessThan(5000);
  });
  it('over the GPU limit, the search finds a placement within it', () => {
    // Cheapest for 4 one-GPU pods is 4 × g5.xlarge (4 GPUs); a limit of 8 allows it, a limit of 3 allows none.
    expect(cheapestPlacement(pods(4), shapes, { maxGpus: 8 })).toMatchObject({ gpus: 4 });
    expect(cheapestPlacement(pods(4), shapes, { maxGpus: 3 })).toBeUndefined();
    const pricey: NodeShape[] = [
      { name: 'one', price: 1, gpus: 1, cpu: 8, memory: 2 ** 34, pods: 110 },
      { name: 'big', price: 3, gpus: 8, cpu: 8, memory: 2 ** 34, pods: 110 },
    ];
    // Without a limit one big ($3, 8 GPUs) is cheapest; a limit of 4 GPUs leaves 4 × one ($4).
    expect(cheapestPlacement(pods(4), pricey)).toMatchObject({ cost: 3, nodes: [{ type: 'big', count: 1 }] });
    expect(cheapestPlacement(pods(4), pricey, { maxGpus: 4 })).toMatchObject({ cost: 4, gpus: 4, nodes: [{ type: 'one', count: 4 }] });
  });
  it('agrees with a brute-force search on mixed pods', () => {
    const mixed: NodeShape[] = [
      { name: 'a', price: 1, gpus: 1, cpu: 4, memory: 16, pods: 10 },
      { name: 'b', price: 1.7, gpus: 2, cpu: 4, memory: 32, pods: 10 },
      { name: 'c', price: 3.1, gpus: 4, cpu: 16, memory: 64, pods: 10 },
      { name: 'd', price: 5, gpus: 8, cpu: 8, memory: 64, pods: 3 },
    ];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 40; round++) {
      const ps = Array.from({ length: 1 + rand(6) }, () => ({ gpus: rand(3), cpu: 1 + rand(4), memory: 4 * (1 + rand(6)) }));
      const got = cheapestPlacement(ps, mixed);
      const want = bruteForce(ps, mixed);
      if (want === undefined) expect(got).toBeUndefined();
      else expect(got!.cost).toBeCloseTo(want, 9);
    }
  });
});

/** Every assignment of pods to at most n nodes of every type: the cheapest cost. */
function bruteForce(ps: PodRequest[], shapes: NodeShape[]): number | undefined {
  let best: number | undefined;
  const go = (i: number, bins: { s: NodeShape; gpus: number; cpu: number; memory: number; pods: number }[], cost: number) => {
    if (best !== undefined && cost >= best) return;
    if (i === ps.length) return void (best = cost);
    const p = ps[i]!;
    const fit = (b: { gpus: number; cpu: number; memory: number; pods: number }) => b.gpus >= p.gpus && b.cpu >= p.cpu && b.memory >= p.memory && b.pods >= 1;
    const take = <B extends { gpus: number; cpu: number; memory: number; pods: number }>(b: B): B => ({
      ...b,
      gpus: b.gpus - p.gpus,
      cpu: b.cpu - p.cpu,
      memory: b.memory - p.memory,
      pods: b.pods - 1,
    });
    bins.forEach(
      (b, j) =>
        fit(b) &&
        go(
          i + 1,
          bins.map((x, k) => (k === j ? take(x) : x)),
          cost,
        ),
    );
    for (const s of shapes) if (fit(s)) go(i + 1, [...bins, take({ s, gpus: s.gpus, cpu: s.cpu, memory: s.memory, pods: s.pods })], cost + s.price);
  };
  go(0, [], 0);
  return best;
}

describe('podRequest', () => {
  it('sums the containers of a pod as the API returns it', () => {
    expect(
      podRequest({
        spec: {
          containers: [
            { resources: { requests: { cpu: '10m', memory: '16Mi', 'nvidia.com/gpu': '2' } } },
            { resources: { requests: { cpu: '1', memory: '1Gi' } } },
            {},
          ],
        },
      }),
    ).toEqual({ gpus: 2, cpu: 1.01, memory: 16 * 2 ** 20 + 2 ** 30 });
  });
});
