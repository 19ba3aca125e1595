// Process mode: Karpenter's KWOK provider built with `go build` and run as a child process of
// the action against the kubeconfig. No image, no Helm; one Karpenter per cluster.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KARPENTER, type PermissionRule } from '../checks/permissions.js';
import { StageFailure, type StageContext } from '../stages/stage.js';
import {
  freePort,
  karpenterLogTail,
  karpenterProcessEnv,
  karpenterRunning,
  privateDir,
  rememberChild,
  startKarpenterProcess,
  stopKarpenterProcess,
} from '../tools/karpenter-process.js';
import { buildForMode, buildOf } from './build.js';
import { applyCrds, crdRules } from './crds.js';
import type { KarpenterProvider } from './provider.js';

/** The namespace Karpenter treats as its own (SYSTEM_NAMESPACE) when it runs out of cluster. */
const SYSTEM_NAMESPACE = 'kube-system';

/**
 * A kubeconfig Karpenter can read through KUBECONFIG: the input file as is, or, when a context
 * is chosen, a minimal file holding only that context (Karpenter has no --context). It goes to
 * a private temp dir, never to the evidence.
 */
export function minimalKubeconfig(kc: k8s.KubeConfig): string {
  const context = kc.getContextObject(kc.getCurrentContext());
  if (!context) throw new Error(`the kubeconfig has no context ${kc.getCurrentContext()}`);
  const cluster = kc.getCluster(context.cluster);
  const user = context.user ? kc.getUser(context.user) : undefined;
  const min = new k8s.KubeConfig();
  min.loadFromOptions({ clusters: cluster ? [cluster] : [], users: user ? [user] : [], contexts: [context], currentContext: context.name });
  return min.exportConfig();
}

function kubeconfigFor(ctx: StageContext): string | undefined {
  if (!ctx.config.context) return ctx.config.kubeconfig;
  const dir = privateDir(ctx.run.runId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, minimalKubeconfig(ctx.kube().kc), { mode: 0o600 });
  return file;
}

/** The instance types file Karpenter reads (written into the evidence: it is part of what was tested). */
function writeInstanceTypes(ctx: StageContext): string {
  const rel = ctx.writeFile('karpenter/instance-types.json', `${JSON.stringify(ctx.config.instanceTypes, null, 2)}\n`);
  return join(ctx.config.evidenceDir, rel);
}

async function install(ctx: StageContext): Promise<string> {
  const { dir, build } = buildOf(ctx);
  if (!build.binary) throw new StageFailure(`Expected a process-mode build in ${dir}; it holds ${build.mode} mode`);
  const binary = join(dir, build.binary);
  const crds = await applyCrds(ctx, dir);
  const instanceTypesFile = writeInstanceTypes(ctx);
  const kubeconfig = kubeconfigFor(ctx);
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const logRel = ctx.writeFile('karpenter/karpenter.log', '');
  const logFile = join(ctx.config.evidenceDir, logRel);
  const env = karpenterProcessEnv(process.env, {
    kubeconfig: kubeconfig ?? process.env.KUBECONFIG ?? '',
    instanceTypesFile,
    metricsPort,
    healthPort,
    systemNamespace: SYSTEM_NAMESPACE,
  });
  if (!kubeconfig && !process.env.KUBECONFIG) delete env.KUBECONFIG; // in-cluster or ~/.kube/config, as client-go finds it
  ctx.run.karpenterLog = logFile;
  ctx.info(`starting ${binary} (metrics :${metricsPort}, health :${healthPort}, log ${logFile})`);
  const started = Date.now();
  let s;
  try {
    s = await startKarpenterProcess({
      binary,
      env,
      logFile,
      healthPort,
      signal: ctx.signal,
      onSpawn: (pid) => {
        ctx.run.karpenterPid = pid;
        ctx.checkpoint();
      },
    });
  } catch (err) {
    throw new StageFailure(
      `Expected Karpenter (${binary}) to become ready; ${(err as Error).message}`,
      'read the Karpenter log in the evidence (karpenter/karpenter.log)',
    );
  }
  rememberChild(s);
  ctx.run.karpenterPid = s.pid;
  ctx.run.karpenterHealthUrl = s.healthUrl;
  ctx.evidence({
    title: 'Karpenter process',
    command: `KUBECONFIG=... DISABLE_LEADER_ELECTION=true INSTANCE_TYPES_FILE_PATH=${instanceTypesFile} METRICS_PORT=${metricsPort} HEALTH_PROBE_PORT=${healthPort} ${binary}`,
    output: `pid ${s.pid}, ready at ${s.healthUrl} after ${Date.now() - started} ms\nCRDs: ${crds.join(', ')}`,
    files: [logRel, 'karpenter/instance-types.json'],
  });
  return `Karpenter ${build.module.version} running as pid ${s.pid}, ready in ${Math.round((Date.now() - started) / 100) / 10} s`;
}

export const processProvider: KarpenterProvider = {
  mode: 'process',
  ownsKarpenter: true,
  usesInstalledNodePool: false,
  installRules: (): PermissionRule[] => [
    ...crdRules(),
    // The child process runs with this kubeconfig: what Karpenter's controller itself does
    // (create and remove nodes and NodeClaims, evict pods) must be allowed too, or the run
    // would pass preflight and stall in provision.
    ['create,patch,update,delete', '', 'nodes'],
    ['create,patch,update,delete', KARPENTER, 'nodeclaims'],
    ['create', '', 'pods', 'eviction'],
  ],
  tools: () => [],
  async preflight(_ctx, others) {
    if (others.runsWithOwnKarpenter.length > 0) {
      // Two Karpenters both act on every NodePool: they launch twice for the same pods and leave
      // nodes without NodeClaims. Refused before anything is created.
      throw new StageFailure(
        `Expected no other run with a Karpenter of its own (process mode) on this cluster; going on: ${others.runsWithOwnKarpenter.map((id) => `run ${id}`).join(', ')}`,
        'run one process-mode run at a time on a cluster (a concurrency group), or install one Karpenter and use karpenter-mode: existing with a NodePool per run',
      );
    }
  },
  build: (ctx) => buildForMode(ctx, { mode: 'process' }),
  install,
  async diagnose(ctx) {
    const tail = karpenterLogTail(ctx.run, 80);
    if (tail) ctx.diagnostic({ title: 'Karpenter log (last 80 lines)', command: `tail -n 80 ${ctx.run.karpenterLog}`, output: tail });
  },
  claimsOrphaned: (run) => !karpenterRunning(run),
  async remove(run) {
    const pid = run.karpenterPid;
    await stopKarpenterProcess(run);
    return pid ? [`Karpenter process ${pid} stopped`] : [];
  },
};
