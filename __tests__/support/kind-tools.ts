// What a kind-mode run downloads, served on loopback: ko and Helm in their release layout (built
// from the bed's binaries, with checksum files), and the KWOK controller's charts packaged from
// the kwok module. The Karpenter build goes to the shared tool cache (keyed by the kind cluster).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { downloadModule } from '../../src/tools/gomod.js';
import { HELM, KO } from '../../src/tools/catalog.js';
import { detectPlatform } from '../../src/tools/platform.js';
import { which } from '../../src/tools/which.js';
import { bin, type Bed } from '../../testbed/lib/bed.js';
import { installEnv, sharedToolCache } from './install-env.js';
import { startMirror, type Mirror } from './mirror.js';
import { startChartRepo } from './registry.js';

export interface KindToolSources {
  /** Action inputs that point at the loopback sources. */
  inputs: Record<string, string>;
  toolCache: string;
  mirror: Mirror;
  charts: Mirror;
  close(): Promise<void>;
}

export async function kindToolSources(
  bed: Bed,
  helm: { version: string; binary: string } = { version: bed.versions.HELM_VERSION!, binary: bin(bed, 'helm') },
): Promise<KindToolSources> {
  installEnv();
  const kwok = await downloadModule(which('go')!, 'sigs.k8s.io/kwok', bed.versions.KWOK_VERSION!);
  const crdDir = join(kwok.Dir, 'kustomize/crd/bases');
  const charts = await startChartRepo(bin(bed, 'helm'), [
    // The kind node holds the kwok image of the module's version (testbed/kind/build).
    { dir: join(kwok.Dir, 'charts/kwok'), crds: readdirSync(crdDir).map((f) => join(crdDir, f)), appVersion: bed.versions.KWOK_VERSION! },
    { dir: join(kwok.Dir, 'charts/stage-fast') },
  ]);
  const mirror = await startMirror(
    [
      { desc: HELM, version: helm.version.replace(/^v/, ''), binary: helm.binary },
      { desc: KO, version: bed.versions.KO_VERSION!.replace(/^v/, ''), binary: bin(bed, 'ko') },
    ],
    detectPlatform(),
  );
  return {
    inputs: {
      'tools-mirror': mirror.url,
      'helm-version': helm.version,
      'ko-version': bed.versions.KO_VERSION!,
      'kwok-chart-repository': `${charts.url}/`,
    },
    toolCache: sharedToolCache(),
    mirror,
    charts,
    async close() {
      await mirror.close();
      await charts.close();
    },
  };
}
