import type { Config, StageName } from '../types.js';

/** One access the run needs, checked with a SelfSubjectAccessReview. */
export interface Permission {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  /** Namespace for namespaced checks; undefined = cluster-wide. */
  namespace?: string;
  /** The stage that needs it (for the failure message). */
  stage: StageName;
}

/** verbs (comma-separated), API group, resource, subresource. */
export type PermissionRule = [verbs: string, group: string, resource: string, subresource?: string];
type Rule = PermissionRule;

export const KARPENTER = 'karpenter.sh';
const KWOK = 'karpenter.kwok.sh';

const LEASES = 'coordination.k8s.io';
/**
 * The run's namespace and its Lease (in the lease namespace), made just before the workload
 * stage; the Lease is renewed every 5 s. Server-side apply of the namespace is a patch.
 */
const RUN_NAMESPACE: Rule[] = [['create,get,patch', '', 'namespaces']];
const RUN_LEASE: Rule[] = [['create,get,update', LEASES, 'leases']];

/**
 * What each stage does with the API: cluster-wide, in the run's namespace (namespaced), and in
 * the lease namespace (lease).
 */
function rulesFor(stage: StageName, config: Config, installRules: Rule[]): { cluster: Rule[]; namespaced: Rule[]; lease?: Rule[] } {
  switch (stage) {
    case 'preflight':
      return {
        cluster: [
          ['get,list', '', 'nodes'],
          // cleanup-stale: the do-not-disrupt pins of n-plus-one runs that died before their cleanup come off.
          ...(config.cleanupStale ? ([['patch', '', 'nodes']] as Rule[]) : []),
          ['list', '', 'namespaces'],
          ['list', KARPENTER, 'nodepools'],
          ['list', KARPENTER, 'nodeclaims'],
          // A Karpenter installation the run did not make is found before anything changes.
          ...(config.stages.includes('karpenter-install')
            ? ([
                ['list', 'apiextensions.k8s.io', 'customresourcedefinitions'],
                ['list', 'apps', 'deployments'],
              ] as Rule[])
            : []),
        ],
        namespaced: [],
        // Leftovers are objects of runs without a renewed Lease; the namespaces and NodePools of
        // live runs say whether one started a Karpenter of its own.
        lease: [['list', LEASES, 'leases']],
      };
    case 'karpenter-install':
      // What installing means differs by mode: the mode's provider says (src/karpenter/).
      return { cluster: installRules, namespaced: [] };
    case 'nodepool':
      return {
        cluster: [
          ['get,list,watch,create,patch,delete', KARPENTER, 'nodepools'],
          ['get,create,patch,delete', KWOK, 'kwoknodeclasses'],
          // The KWOKNodeClass's declared Ready status is set by the stage (the apiserver does not default it).
          ['patch', KWOK, 'kwoknodeclasses', 'status'],
        ],
        namespaced: [],
      };
    case 'metric':
      return { cluster: [['get', 'apiregistration.k8s.io', 'apiservices']], namespaced: [['get', 'external.metrics.k8s.io', config.metricName]] };
    case 'workload':
      return {
        cluster: [
          ...RUN_NAMESPACE,
          // n-plus-one: the baseline is made (its fill pods and nodes watched, its NodeClaims told apart) and pinned (do-not-disrupt).
          ...(config.scenario === 'n-plus-one'
            ? ([
                ['get,list,watch,patch', '', 'nodes'],
                ['list', KARPENTER, 'nodeclaims'],
              ] as Rule[])
            : []),
        ],
        lease: RUN_LEASE,
        namespaced: [
          ['get,create,patch', 'apps', 'deployments'],
          ...(config.scenario === 'metric' ? ([['get,create,patch', 'autoscaling', 'horizontalpodautoscalers']] as Rule[]) : []),
          ...(config.scenario === 'n-plus-one' ? ([['list,watch', '', 'pods']] as Rule[]) : []),
        ],
      };
    case 'hpa':
      return {
        cluster: [],
        namespaced: [
          ['get,list,watch', 'autoscaling', 'horizontalpodautoscalers'],
          ['list', '', 'events'],
        ],
      };
    case 'pending':
      return {
        cluster: [],
        namespaced: [
          ['list,watch', '', 'pods'],
          ['list', '', 'events'],
        ],
      };
    case 'provision':
      return {
        cluster: [
          ['list,watch', KARPENTER, 'nodeclaims'],
          ['list,watch', '', 'nodes'],
          ['get', KARPENTER, 'nodepools'],
        ],
        // Karpenter's FailedScheduling events on the run's pods: provision fails at once with its reason.
        namespaced: [['list,watch', '', 'events']],
      };
    case 'schedule':
      return { cluster: [['list,watch', '', 'nodes']], namespaced: [['list,watch', '', 'pods']] };
    case 'consolidation':
      return {
        cluster: [
          ['list,watch', KARPENTER, 'nodeclaims'],
          ['list,watch', '', 'nodes'],
          // The run's namespace goes with the workload (n-plus-one keeps it: its fill holds the baseline).
          ...(config.scenario === 'n-plus-one' ? [] : ([['delete', '', 'namespaces']] as Rule[])),
        ],
        namespaced: [
          ['delete', 'apps', 'deployments'],
          ['delete', 'autoscaling', 'horizontalpodautoscalers'],
        ],
      };
    case 'cleanup':
      return {
        cluster: [
          ['delete,list,watch', '', 'namespaces'],
          ['delete,list,watch', KARPENTER, 'nodeclaims'],
          // n-plus-one: the do-not-disrupt annotations the run put on its baseline nodes.
          ...(config.scenario === 'n-plus-one' ? ([['patch', '', 'nodes']] as Rule[]) : []),
        ],
        namespaced: [],
        // The run's Lease goes last; cleanup-stale (preflight) deletes the Leases of leftovers.
        lease: [['delete', LEASES, 'leases']],
      };
    default:
      return { cluster: [], namespaced: [] };
  }
}

/**
 * Every access the selected stages need, one entry per verb, without duplicates. Pure.
 * `installRules` are karpenter-install's, which the install mode decides (src/karpenter/).
 */
export function requiredPermissions(config: Config, namespace: string, installRules: PermissionRule[]): Permission[] {
  const seen = new Set<string>();
  const out: Permission[] = [];
  for (const stage of config.stages) {
    const { cluster, namespaced, lease = [] } = rulesFor(stage, config, installRules);
    for (const [rules, ns] of [
      [cluster, undefined],
      [namespaced, namespace],
      [lease, config.leaseNamespace],
    ] as const) {
      for (const [verbs, group, resource, subresource] of rules) {
        for (const verb of verbs.split(',')) {
          const key = [verb, group, resource, subresource ?? '', ns ?? ''].join('|');
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ verb, group, resource, subresource, namespace: ns, stage });
        }
      }
    }
  }
  return out;
}

/** "create deployments.apps in ns x (workload)", as a person reads RBAC. */
export function describePermission(p: Permission): string {
  const res = `${p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.group ? `.${p.group}` : ''}`;
  return `${p.verb} ${res}${p.namespace ? ` in namespace ${p.namespace}` : ' (cluster-wide)'} [${p.stage}]`;
}

/** Whether the external-metrics APIService must be Available before anything is created. */
export function needsExternalMetrics(config: Config): boolean {
  return config.scenario === 'metric' && (config.stages.includes('metric') || config.stages.includes('hpa'));
}

/** An RBAC policy rule, as a Role or a SelfSubjectRulesReview lists it. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** One request as the authorizer sees it: a SelfSubjectAccessReview's resourceAttributes. */
export interface AccessRequest {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
}

const listed = (list: string[] | undefined, v: string): boolean => (list ?? []).includes('*') || (list ?? []).includes(v);

/** Does one rule allow the request? As the RBAC authorizer decides (plugin/pkg/auth/authorizer/rbac). Pure. */
export function ruleAllows(rule: PolicyRule, r: AccessRequest): boolean {
  if (!listed(rule.verbs, r.verb) || !listed(rule.apiGroups, r.group)) return false;
  const combined = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  const resourceOk = (rule.resources ?? []).some((x) => x === '*' || x === combined || (r.subresource !== undefined && x === `*/${r.subresource}`));
  if (!resourceOk) return false;
  // resourceNames narrow a rule to named objects: a request without a name (list, create, an
  // access review without name) is not allowed by it.
  if (rule.resourceNames && rule.resourceNames.length > 0) return r.name !== undefined && rule.resourceNames.includes(r.name);
  return true;
}

/** Does any of the rules allow the request? Pure. */
export const rulesAllow = (rules: PolicyRule[], r: AccessRequest): boolean => rules.some((rule) => ruleAllows(rule, r));

/**
 * The permissions a SelfSubjectRulesReview does not show as allowed, which still need a
 * SelfSubjectAccessReview each. The review lists only what it can: when it says `incomplete`
 * (a webhook or another authorizer that cannot list rules), an allow it shows may still be
 * overridden, so nothing is taken from it. A rule never denies: what it does not allow is asked. Pure.
 */
export function unsettledByRules(perms: Permission[], review: { incomplete?: boolean; resourceRules?: PolicyRule[] } | undefined): Permission[] {
  if (!review || review.incomplete) return perms;
  return perms.filter((p) => !rulesAllow(review.resourceRules ?? [], p));
}
