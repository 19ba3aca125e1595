import * as k8s from '@kubernetes/client-node';
import type { Config } from '../types.js';

/** The user agent the action's API calls carry, so the apiserver's metrics can tell them apart. */
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
}

/** Loads the kubeconfig (file input, else KUBECONFIG / in-cluster / ~/.kube/config) and makes the clients. */
export function loadKubeConfig(config: Pick<Config, 'kubeconfig' | 'context'>): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  if (config.context) kc.setCurrentContext(config.context);
  return kc;
}

export function connect(config: Pick<Config, 'kubeconfig' | 'context'>): Kube {
  const kc = loadKubeConfig(config);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    autoscaling: kc.makeApiClient(k8s.AutoscalingV2Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    apiext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    apiregistration: kc.makeApiClient(k8s.ApiregistrationV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    version: kc.makeApiClient(k8s.VersionApi),
  };
}
