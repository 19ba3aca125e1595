// The environment of the programs the action starts (helm, ko, go, the Karpenter process): the
// runner's own credentials and channels stay with the action. A child gets neither the runtime
// token (artifact and cache uploads in this job's name), nor the OIDC token request, nor the
// files that set the step's outputs, state and later steps' environment, nor the inputs.
//
// What the children need is kept: PATH, HOME, TMPDIR, locale, proxies and CA bundles; KUBECONFIG;
// Go's settings (GOPATH, GOCACHE, GOMODCACHE, GOFLAGS, GOPROXY, GONOSUMDB, GOPRIVATE, GOAUTH...);
// ko's (KO_*, DOCKER_CONFIG) and kind's (KIND_*); the runner's non-secret facts (RUNNER_TEMP,
// RUNNER_TOOL_CACHE, RUNNER_TRACKING_ID, which lets the runner find an orphaned child).
// Other variables named like credentials (TOKEN, SECRET, PASSWORD, KEY, CREDENTIAL) are dropped,
// except the cloud ones a kubeconfig exec plugin (aws eks get-token, gke-gcloud-auth-plugin,
// kubelogin) or a registry credential helper reads to authenticate the child to the same cluster
// or registry the user pointed the action at: those are the user's, set for that purpose.

/** Set by the runner for the action itself, never for the programs it runs. */
const RUNNER_ONLY = /^(ACTIONS_|INPUT_|STATE_)/;
/** Tokens named by convention, whatever else the name says. */
const TOKENS = new Set(['GITHUB_TOKEN', 'GH_TOKEN', 'GH_ENTERPRISE_TOKEN', 'GITHUB_ENTERPRISE_TOKEN']);
/** Workflow command files: a child writing to them would set outputs, state, PATH or env of later steps. */
const COMMAND_FILES = new Set(['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_STEP_SUMMARY']);
/** RUNNER_* kept: facts, not secrets. */
const RUNNER_KEPT = new Set([
  'RUNNER_TEMP',
  'RUNNER_TOOL_CACHE',
  'RUNNER_OS',
  'RUNNER_ARCH',
  'RUNNER_NAME',
  'RUNNER_ENVIRONMENT',
  'RUNNER_DEBUG',
  'RUNNER_WORKSPACE',
  'RUNNER_TRACKING_ID',
]);
/** A name that says its value is a credential. */
const CREDENTIAL_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|KEY/i;
/** Named like credentials, but harmless settings. */
const HARMLESS = new Set(['TOKENIZERS_PARALLELISM', 'PYTHON_KEYRING_BACKEND', 'KEYTIMEOUT', 'GPG_TTY', 'SSH_AUTH_SOCK']);
/** Cloud credentials that kubeconfig exec plugins and registry credential helpers authenticate with. */
const CLUSTER_AUTH = /^(AWS_|AZURE_|ARM_|GOOGLE_|CLOUDSDK_|GCE_|OCI_CLI_)/;

/** Why a variable is withheld from children, or undefined when it is passed. Pure. */
export function withheldBecause(name: string): string | undefined {
  if (RUNNER_ONLY.test(name)) return 'set by the runner for the action only';
  if (TOKENS.has(name)) return 'a GitHub token';
  if (COMMAND_FILES.has(name)) return "a workflow command file of the action's step";
  if (name.startsWith('RUNNER_') && !RUNNER_KEPT.has(name)) return 'a runner setting not needed by children';
  if (CREDENTIAL_NAME.test(name) && !HARMLESS.has(name) && !CLUSTER_AUTH.test(name)) return 'named like a credential';
  return undefined;
}

/**
 * The environment for a child process: `env` without what withheldBecause names. `keep` passes
 * named variables anyway (a caller that knows its program needs one). Pure.
 */
export function scrubbedEnv(env: NodeJS.ProcessEnv, keep: readonly string[] = []): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (keep.includes(k) || withheldBecause(k) === undefined) out[k] = v;
  }
  return out;
}
