// Each component's command line and readiness probe, as testbed/up starts it. Pure: paths and
// ports in, records out (bed.json keeps them, so a component restarts with the same flags).
import { join } from 'node:path';
import type { PortName } from './config.js';
import type { ComponentRecord } from './proc.js';

export interface Layout {
  dir: string;
  pki: string;
  ports: Record<PortName, number>;
  bin: Record<string, string>;
  /** The DCGM stand-in script. */
  dcgmScript: string;
  adapterConfig: string;
  hpaSyncPeriod: string;
  gpus: number;
}

export type Spec = Omit<ComponentRecord, 'pid'>;

/** Start order: each group starts together once the previous group is ready. */
export const GROUPS = [
  ['etcd'],
  ['kube-apiserver'],
  ['kube-controller-manager', 'kube-scheduler', 'kwok', 'dcgm-exporter', 'prometheus'],
  ['prometheus-adapter'],
] as const;

export function specs(l: Layout): Record<string, Spec> {
  const { dir, pki, ports: p, bin } = l;
  const f = (name: string) => join(pki, name);
  const kc = (id: string) => join(dir, `${id}.kubeconfig`);
  const log = (name: string) => join(dir, 'logs', `${name}.log`);
  const https = (port: number, path: string) => ({ url: `https://127.0.0.1:${port}${path}`, ca: f('ca.crt') });
  const serving = [`--tls-cert-file=${f('serving.crt')}`, `--tls-private-key-file=${f('serving.key')}`];
  const delegated = (id: string) => [`--kubeconfig=${kc(id)}`, `--authentication-kubeconfig=${kc(id)}`, `--authorization-kubeconfig=${kc(id)}`];
  const peer = `http://127.0.0.1:${p.etcdPeer}`;

  return {
    etcd: {
      cmd: [
        bin.etcd,
        '--name=bed',
        `--data-dir=${join(dir, 'data', 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${p.etcd}`,
        `--advertise-client-urls=http://127.0.0.1:${p.etcd}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=bed=${peer}`,
        // a throwaway store: durability buys nothing here and fsync costs every write
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      log: log('etcd'),
      port: p.etcd,
      ready: { url: `http://127.0.0.1:${p.etcd}/health` },
    },
    'kube-apiserver': {
      cmd: [
        bin['kube-apiserver'],
        `--etcd-servers=http://127.0.0.1:${p.etcd}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${p.apiserver}`,
        // no default route on these machines: the apiserver cannot pick an address itself, and the
        // `kubernetes` Endpoints may not hold a loopback IP
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        '--authorization-mode=Node,RBAC',
        `--client-ca-file=${f('ca.crt')}`,
        ...serving,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--allow-privileged=true',
        `--service-account-key-file=${f('sa.pub')}`,
        `--service-account-signing-key-file=${f('sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        // aggregated APIs (prometheus-adapter): the apiserver proxies as front-proxy-client
        `--requestheader-client-ca-file=${f('front-proxy-ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${f('front-proxy-client.crt')}`,
        `--proxy-client-key-file=${f('front-proxy-client.key')}`,
        '--profiling=false',
      ],
      log: log('kube-apiserver'),
      port: p.apiserver,
      ready: { ...https(p.apiserver, '/readyz'), cert: f('admin.crt'), key: f('admin.key') },
    },
    'kube-controller-manager': {
      cmd: [
        bin['kube-controller-manager'],
        ...delegated('kube-controller-manager'),
        '--bind-address=127.0.0.1',
        `--secure-port=${p.controllerManager}`,
        ...serving,
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        '--controllers=*',
        `--service-account-private-key-file=${f('sa.key')}`,
        `--root-ca-file=${f('ca.crt')}`,
        `--cluster-signing-cert-file=${f('ca.crt')}`,
        `--cluster-signing-key-file=${f('ca.key')}`,
        `--horizontal-pod-autoscaler-sync-period=${l.hpaSyncPeriod}`,
        '--profiling=false',
      ],
      log: log('kube-controller-manager'),
      port: p.controllerManager,
      ready: https(p.controllerManager, '/healthz'),
    },
    'kube-scheduler': {
      cmd: [
        bin['kube-scheduler'],
        ...delegated('kube-scheduler'),
        '--bind-address=127.0.0.1',
        `--secure-port=${p.scheduler}`,
        ...serving,
        '--leader-elect=false',
        '--profiling=false',
      ],
      log: log('kube-scheduler'),
      port: p.scheduler,
      ready: https(p.scheduler, '/healthz'),
    },
    kwok: {
      // the nodes Karpenter's KWOK provider creates carry kwok.x-k8s.io/node=fake; no stage config
      // given, so kwok applies its default node (init + heartbeat) and pod (ready, complete, delete) stages,
      // and renews each node's Lease in kube-node-lease
      cmd: [
        bin.kwok,
        `--kubeconfig=${kc('kwok')}`,
        `--config=${join(dir, 'kwok.yaml')}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--manage-nodes-with-label-selector=',
        `--server-address=127.0.0.1:${p.kwok}`,
        '--cidr=10.244.0.1/16',
        '--node-ip=10.0.0.1',
        // Node leases renewed every 10 s, as a kubelet does: without them (kwok's flag default is 0)
        // the node lifecycle controller marks every node Unknown 50 s after its last status change
        // and kwok sets it Ready again, a flap any node living past ~50 s shows (n-plus-one's baseline).
        '--node-lease-duration-seconds=40',
      ],
      log: log('kwok'),
      port: p.kwok,
      ready: { url: `http://127.0.0.1:${p.kwok}/healthz` },
    },
    'dcgm-exporter': {
      cmd: [bin.node, l.dcgmScript, `--port=${p.dcgm}`, `--gpus=${l.gpus}`, '--hostname=gac-bed'],
      log: log('dcgm-exporter'),
      port: p.dcgm,
      ready: { url: `http://127.0.0.1:${p.dcgm}/healthz` },
    },
    prometheus: {
      cmd: [
        bin.prometheus,
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data', 'prometheus')}`,
        `--web.listen-address=127.0.0.1:${p.prometheus}`,
        '--storage.tsdb.retention.time=12h',
        '--log.level=warn',
      ],
      log: log('prometheus'),
      port: p.prometheus,
      ready: { url: `http://127.0.0.1:${p.prometheus}/-/ready` },
    },
    'prometheus-adapter': {
      cmd: [
        bin['prometheus-adapter'],
        `--lister-kubeconfig=${kc('prometheus-adapter')}`,
        `--authentication-kubeconfig=${kc('prometheus-adapter')}`,
        `--authorization-kubeconfig=${kc('prometheus-adapter')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${p.adapter}`,
        ...serving,
        `--prometheus-url=http://127.0.0.1:${p.prometheus}/`,
        `--config=${l.adapterConfig}`,
        '--metrics-relist-interval=15s',
        '--v=1',
      ],
      log: log('prometheus-adapter'),
      port: p.adapter,
      ready: https(p.adapter, '/readyz'),
    },
  };
}

/** Prometheus: only the DCGM stand-in, every 2 s, keeping its namespace/pod labels (recipes set honorLabels). */
export function prometheusConfig(l: Layout): string {
  return `global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: dcgm-exporter
    scrape_interval: 2s
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:${l.ports.dcgm}']
`;
}

export const KWOK_CONFIG = `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
`;

/** The adapter's API registration: an ExternalName Service (Endpoints may not hold 127.0.0.1) plus APIServices. */
export function aggregationManifests(l: Layout, caBundle: string): string {
  const apiService = (group: string) => `---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.${group}
spec:
  group: ${group}
  version: v1beta1
  service: { name: prometheus-adapter, namespace: monitoring, port: ${l.ports.adapter} }
  caBundle: ${caBundle}
  groupPriorityMinimum: 100
  versionPriority: 100
`;
  return `apiVersion: v1
kind: Namespace
metadata:
  name: monitoring
---
apiVersion: v1
kind: Service
metadata:
  name: prometheus-adapter
  namespace: monitoring
spec:
  type: ExternalName
  externalName: 127.0.0.1
${apiService('external.metrics.k8s.io')}${apiService('custom.metrics.k8s.io')}`;
}
