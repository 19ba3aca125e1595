// kind mode's image on the cluster's nodes, through docker and each node's containerd (as kind
// itself does it): which nodes hold it, keeping it as an archive next to the build, and loading
// that archive into a cluster that lacks it (a new kind cluster in a new job), so the build in the
// Actions cache spares that job the ko build.
import { join } from 'node:path';
import { run } from '../tools/exec.js';

/** The archive's file name in the build dir. */
export const IMAGE_ARCHIVE = 'image.tar';

/** `docker ps` naming the node containers of a kind cluster (kind labels each with its cluster). */
export function kindNodesArgs(clusterName: string): string[] {
  return ['ps', '--filter', `label=io.x-k8s.kind.cluster=${clusterName}`, '--format', '{{.Names}}'];
}

/** `ctr -n k8s.io images ls -q` on a node: the images its containerd holds. */
export function nodeImagesArgs(node: string): string[] {
  return ['exec', node, 'ctr', '-n', 'k8s.io', 'images', 'ls', '-q'];
}

/** `ctr images export` of one image from a node to stdout (an OCI archive that keeps the image's name). */
export function exportArgs(node: string, image: string): string[] {
  return ['exec', node, 'ctr', '-n', 'k8s.io', 'images', 'export', '-', image];
}

/** `ctr images import` from stdin into the snapshotter the kubelet's runtime uses, as `kind load image-archive` does. */
export function importArgs(node: string, snapshotter: string): string[] {
  return ['exec', '-i', node, 'ctr', '-n', 'k8s.io', 'images', 'import', '--all-platforms', '--digests', `--snapshotter=${snapshotter}`, '-'];
}

/** The TOML tables that set the CRI plugin's snapshotter: containerd 1.x, 2.x (quotes dropped). */
const CRI_SNAPSHOTTER_TABLES = ['plugins.io.containerd.grpc.v1.cri.containerd', 'plugins.io.containerd.cri.v1.images'];

/** The CRI plugin's snapshotter in `containerd config dump`; overlayfs (containerd's default) when it names none. Pure. */
export function criSnapshotter(configDump: string): string {
  let table = '';
  for (const line of configDump.split('\n')) {
    const header = /^\s*\[+([^\]]+)\]+\s*$/.exec(line);
    if (header) table = header[1]!.replace(/["']/g, '');
    const value = /^\s*snapshotter\s*=\s*["']([^"']+)["']/.exec(line);
    if (value && CRI_SNAPSHOTTER_TABLES.includes(table)) return value[1]!;
  }
  return 'overlayfs';
}

export interface KindImages {
  /** The cluster's node containers. */
  nodes(): Promise<string[]>;
  /** The nodes (of the cluster, or of `among`) that do not hold the image. */
  missingOn(image: string, among?: string[]): Promise<string[]>;
  /** Writes the image from a node that holds it to `<dir>/image.tar`; returns the file name. */
  keep(image: string, dir: string): Promise<string>;
  /** Loads the archive into the given nodes. */
  load(archive: string, nodes: string[]): Promise<void>;
}

export function kindImages(docker: string, clusterName: string, signal?: AbortSignal): KindImages {
  const nodes = async () =>
    (await run(docker, kindNodesArgs(clusterName), { signal })).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
  const missingOn = async (image: string, among?: string[]) => {
    const missing: string[] = [];
    for (const node of among ?? (await nodes())) {
      const r = await run(docker, nodeImagesArgs(node), { signal, allowFailure: true });
      if (r.code !== 0 || !r.stdout.split('\n').some((l) => l.trim() === image)) missing.push(node);
    }
    return missing;
  };
  return {
    nodes,
    missingOn,
    async keep(image, dir) {
      const all = await nodes();
      const missing = new Set(await missingOn(image, all));
      const holder = all.find((n) => !missing.has(n));
      if (!holder) throw new Error(`no node of kind cluster ${clusterName} holds ${image} after the build`);
      await run(docker, exportArgs(holder, image), { signal, stdoutFile: join(dir, IMAGE_ARCHIVE) });
      return IMAGE_ARCHIVE;
    },
    async load(archive, targets) {
      for (const node of targets) {
        const dump = await run(docker, ['exec', node, 'containerd', 'config', 'dump'], { signal, allowFailure: true });
        await run(docker, importArgs(node, criSnapshotter(dump.stdout)), { signal, stdinFile: archive });
      }
    },
  };
}
