import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { registerSecret } from '../secrets.js';
import type { Config } from '../types.js';
import { countRequest } from './requests.js';
import { namingTls, throughRestarts, type Reachability } from './transient.js';

/** The user agent every API request of the action carries, so the apiserver's audit log and logs can tell them apart. */
export const USER_AGENT = 'gpu-autoscaling-conformance';

/** The typed API clients one run uses, made from one KubeConfig. */
export interface Kube {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  autoscaling: k8s.AutoscalingV2Api;
  authz: k8s.AuthorizationV1Api;
  apiext: k8s.ApiextensionsV1Api;
  apiregistration: k8s.ApiregistrationV1Api;
  custom: k8s.CustomObjectsApi;
  objects: k8s.KubernetesObjectApi;
  version: k8s.VersionApi;
  /** Shared by all of them: whether the API is known to be down (src/kube/transient.ts). */
  reach: Reachability;
}

/**
 * A KubeConfig whose every request carries USER_AGENT and is counted (src/kube/requests.ts), and
 * whose requests share connections.
 * Typed clients, watches and raw requests all call applySecurityAuthentication once per request;
 * typed clients then set the library's own User-Agent in a middleware, so makeApiClient is
 * replaced by the library's construction with our header instead.
 */
class ActionKubeConfig extends k8s.KubeConfig {
  constructor() {
    super();
    // client-node makes a new undici Agent for every request, so every request paid a new TCP +
    // mTLS handshake (~40 ms against the test bed, 9x a reused connection). Keep one Agent per
    // distinct TLS/proxy setting: credentials that change (exec plugins) still get a new one.
    const self = this as unknown as { createDispatcher(cluster: k8s.Cluster | null, agentOptions: object): unknown };
    const create = self.createDispatcher.bind(this);
    const dispatchers = new Map<string, unknown>();
    self.createDispatcher = (cluster, agentOptions) => {
      // A client key an exec plugin printed (ExecCredential clientKeyData) exists only here.
      const tlsKey = (agentOptions as { key?: unknown }).key;
      if (tlsKey) registerSecret(Buffer.isBuffer(tlsKey) ? tlsKey.toString('utf8') : String(tlsKey));
      const key = createHash('sha256')
        .update(JSON.stringify(this.createDispatcherOptions(cluster, agentOptions)))
        .digest('hex');
      if (!dispatchers.has(key)) dispatchers.set(key, create(cluster, agentOptions));
      return dispatchers.get(key);
    };
  }

  override async applySecurityAuthentication(ctx: k8s.RequestContext): Promise<void> {
    await super.applySecurityAuthentication(ctx);
    // The credential as sent: an exec plugin's token, a refreshed OIDC id-token, a token file read
    // again are known only now. Masked before anything can log them (a no-op once known).
    const auth = ctx.getHeaders().Authorization;
    if (auth) registerSecret(auth.replace(/^(Bearer|Basic)\s+/i, ''));
    ctx.setHeaderParam('User-Agent', USER_AGENT);
    countRequest(ctx.getHttpMethod(), ctx.getUrl());
  }

  override makeApiClient<T extends k8s.ApiType>(apiClientType: k8s.ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    return new apiClientType(
      k8s.createConfiguration({
        baseServer: new k8s.ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        middleware: [k8s.setHeaderMiddleware('User-Agent', USER_AGENT)],
      }),
    );
  }
}

/** A view of a KubeConfig whose requests use connections of their own, which close() ends (in flight or not). */
export interface DedicatedConnection {
  kc: k8s.KubeConfig;
  close(): void;
}

/**
 * The same credentials and TLS settings as `kc`, on a dispatcher of its own instead of the shared
 * one. For watches: client-node's Watch keeps its AbortController to itself until the response
 * headers arrive, so a watch still connecting cannot be aborted; destroying its dispatcher can.
 * (When the cluster needs no TLS options the library uses the global dispatcher: close() then
 * has nothing to end.)
 */
export function dedicatedConnection(kc: k8s.KubeConfig): DedicatedConnection {
  const dispatchers: { destroy(): Promise<void> }[] = [];
  const own = Object.create(kc) as k8s.KubeConfig;
  const uncached = (k8s.KubeConfig.prototype as unknown as { createDispatcher(cluster: k8s.Cluster | null, agentOptions: object): unknown }).createDispatcher;
  let closed = false;
  Object.defineProperty(own, 'createDispatcher', {
    value: (cluster: k8s.Cluster | null, agentOptions: object) => {
      const tlsKey = (agentOptions as { key?: unknown }).key;
      if (tlsKey) registerSecret(Buffer.isBuffer(tlsKey) ? tlsKey.toString('utf8') : String(tlsKey));
      const d = uncached.call(own, cluster, agentOptions) as { destroy(): Promise<void> } | undefined;
      if (d) {
        dispatchers.push(d);
        if (closed) void d.destroy().catch(() => undefined);
      }
      return d;
    },
  });
  return {
    kc: own,
    close() {
      closed = true;
      for (const d of dispatchers.splice(0)) void d.destroy().catch(() => undefined);
    },
  };
}

/** Loads the kubeconfig (file input, else KUBECONFIG / in-cluster / ~/.kube/config) and makes the clients. */
export function loadKubeConfig(config: Pick<Config, 'kubeconfig' | 'context'>): k8s.KubeConfig {
  const kc = new ActionKubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  if (config.context) kc.setCurrentContext(config.context);
  return kc;
}

/**
 * The clients of a run. Every call is asked again through an apiserver restart
 * (src/kube/transient.ts), except the version call: preflight's first contact fails at once on
 * a wrong server rather than after the restart window.
 */
export function connect(config: Pick<Config, 'kubeconfig' | 'context'>): Kube {
  return clientsOf(loadKubeConfig(config), {});
}

function clientsOf(kc: k8s.KubeConfig, reach: Reachability, signal?: AbortSignal): Kube {
  const typed = <T extends object>(api: T, name: string) => throughRestarts(api, name, reach, signal);
  return {
    kc,
    core: typed(kc.makeApiClient(k8s.CoreV1Api), 'core'),
    apps: typed(kc.makeApiClient(k8s.AppsV1Api), 'apps'),
    autoscaling: typed(kc.makeApiClient(k8s.AutoscalingV2Api), 'autoscaling'),
    authz: typed(kc.makeApiClient(k8s.AuthorizationV1Api), 'authz'),
    apiext: typed(kc.makeApiClient(k8s.ApiextensionsV1Api), 'apiext'),
    apiregistration: typed(kc.makeApiClient(k8s.ApiregistrationV1Api), 'apiregistration'),
    custom: typed(kc.makeApiClient(k8s.CustomObjectsApi), 'custom'),
    objects: typed(k8s.KubernetesObjectApi.makeApiClient(kc), 'objects'),
    version: namingTls(kc.makeApiClient(k8s.VersionApi), 'version'),
    reach,
  };
}

/**
 * The same clients (same credentials, connections and reachability), every request of which
 * carries `signal`: typed calls, object calls and raw requests end when it aborts (raw requests
 * that pass a signal of their own keep theirs). For a stage: nothing it asked outlives it.
 */
export function withSignal(kube: Kube, signal: AbortSignal): Kube {
  const base = kube.kc;
  const scoped = Object.create(base) as k8s.KubeConfig;
  Object.defineProperty(scoped, 'applySecurityAuthentication', {
    value: async (ctx: k8s.RequestContext): Promise<void> => {
      await base.applySecurityAuthentication.call(scoped, ctx);
      ctx.setSignal(signal);
    },
  });
  return clientsOf(scoped, kube.reach, signal);
}
