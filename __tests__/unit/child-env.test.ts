// Child processes (helm, ko, go through src/tools/exec.ts; the Karpenter process) never get the
// runner's tokens, the step's command files or its inputs; they keep what they need to work.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scrubbedEnv, withheldBecause } from '../../src/tools/child-env.js';
import { run } from '../../src/tools/exec.js';
import { karpenterProcessEnv } from '../../src/tools/karpenter-process.js';

/** A runner's environment: its secrets and channels, and what tools legitimately read. */
const RUNNER_ENV = {
  ACTIONS_RUNTIME_TOKEN: 'eyJhbGciOi.runtime.token',
  ACTIONS_RESULTS_URL: 'https://results-receiver.actions.githubusercontent.com/',
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'id-token-request-secret',
  ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.actions/abc',
  ACTIONS_CACHE_URL: 'https://cache/',
  GITHUB_TOKEN: 'ghs_0123456789abcdef',
  GH_TOKEN: 'ghp_0123456789abcdef',
  GITHUB_OUTPUT: '/runner/_temp/_runner_file_commands/set_output_1',
  GITHUB_STATE: '/runner/_temp/_runner_file_commands/save_state_1',
  GITHUB_ENV: '/runner/_temp/_runner_file_commands/set_env_1',
  GITHUB_PATH: '/runner/_temp/_runner_file_commands/add_path_1',
  GITHUB_STEP_SUMMARY: '/runner/_temp/_runner_file_commands/step_summary_1',
  INPUT_KUBECONFIG: '/home/runner/.kube/config',
  STATE_run: '{"runId":"x"}',
  RUNNER_TEMP: '/runner/_temp',
  RUNNER_TOOL_CACHE: '/opt/hostedtoolcache',
  RUNNER_TRACKING_ID: 'github_1234',
  RUNNER_SOME_SECRET_SETTING: 'x',
  NPM_TOKEN: 'npm_secret',
  DOCKER_PASSWORD: 'hunter2hunter2',
  MY_API_KEY: 'key-123456789',
  DATABASE_SECRET: 's3cr3t!!',
  // What helm, ko, go and exec plugins need.
  PATH: '/usr/bin:/bin',
  HOME: '/home/runner',
  TMPDIR: '/tmp',
  KUBECONFIG: '/home/runner/.kube/config',
  DOCKER_CONFIG: '/home/runner/.docker',
  GOPATH: '/home/runner/go',
  GOCACHE: '/home/runner/.cache/go-build',
  GOMODCACHE: '/home/runner/go/pkg/mod',
  GOFLAGS: '-mod=mod',
  GOPROXY: 'https://proxy.golang.org',
  GOAUTH: 'netrc',
  KO_DOCKER_REPO: 'kind.local',
  KO_DEFAULTBASEIMAGE: 'localhost/static:latest',
  KIND_CLUSTER_NAME: 'kind',
  HTTPS_PROXY: 'http://proxy:3128',
  SSL_CERT_FILE: '/etc/ssl/certs/ca.pem',
  GITHUB_REPOSITORY: 'example/gpu',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-for-eks-get-token',
  AWS_SESSION_TOKEN: 'aws-session',
  GOOGLE_APPLICATION_CREDENTIALS: '/tmp/gcp.json',
  TOKENIZERS_PARALLELISM: 'false',
};

const WITHHELD = [
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_RESULTS_URL',
  'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_URL',
  'ACTIONS_CACHE_URL',
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'GITHUB_OUTPUT',
  'GITHUB_STATE',
  'GITHUB_ENV',
  'GITHUB_PATH',
  'GITHUB_STEP_SUMMARY',
  'INPUT_KUBECONFIG',
  'STATE_run',
  'RUNNER_SOME_SECRET_SETTING',
  'NPM_TOKEN',
  'DOCKER_PASSWORD',
  'MY_API_KEY',
  'DATABASE_SECRET',
];
const KEPT = Object.keys(RUNNER_ENV).filter((k) => !WITHHELD.includes(k));

describe('scrubbedEnv', () => {
  it("drops the runner's tokens, command files, inputs, state and credential-named variables; keeps what tools need", () => {
    const env = scrubbedEnv(RUNNER_ENV);
    expect(Object.keys(env).sort()).toEqual([...KEPT].sort());
    for (const k of WITHHELD) expect(withheldBecause(k), k).toBeDefined();
  });

  it('passes a withheld variable a caller names', () => {
    expect(scrubbedEnv(RUNNER_ENV, ['GITHUB_TOKEN']).GITHUB_TOKEN).toBe(RUNNER_ENV.GITHUB_TOKEN);
  });

  it('the Karpenter process environment has none of them', () => {
    const env = karpenterProcessEnv(RUNNER_ENV, {
      kubeconfig: '/p/kubeconfig',
      instanceTypesFile: '/e/types.json',
      metricsPort: 1,
      healthPort: 2,
      systemNamespace: 'kube-system',
    });
    for (const k of WITHHELD) expect(env[k], k).toBeUndefined();
    expect(env).toMatchObject({
      KUBECONFIG: '/p/kubeconfig',
      PATH: RUNNER_ENV.PATH,
      HOME: RUNNER_ENV.HOME,
      AWS_SECRET_ACCESS_KEY: RUNNER_ENV.AWS_SECRET_ACCESS_KEY,
    });
  });

  it('a program run through exec.ts sees none of them, by default and with an explicit env', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, RUNNER_ENV, { PATH: saved.PATH });
    try {
      const printEnv = ['-e', 'process.stdout.write(JSON.stringify(process.env))'];
      for (const env of [undefined, { ...process.env, GOFLAGS: '' }]) {
        const seen = JSON.parse((await run(process.execPath, printEnv, { env })).stdout) as Record<string, string>;
        for (const k of WITHHELD) expect(seen[k], k).toBeUndefined();
        for (const k of ['HOME', 'GOPROXY', 'KO_DOCKER_REPO', 'KUBECONFIG', 'RUNNER_TEMP']) expect(seen[k], k).toBe(process.env[k]);
      }
    } finally {
      process.env = saved;
    }
  });
});

describe('exec.ts with files', () => {
  it('feeds a file to stdin and writes stdout to a file byte for byte (an image archive through docker exec)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-exec-'));
    const input = path.join(dir, 'in.bin');
    const output = path.join(dir, 'out.bin');
    const bytes = crypto.randomBytes(3 * 1024 * 1024 + 17); // several pipe buffers, not valid UTF-8
    fs.writeFileSync(input, bytes);
    const r = await run(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], { stdinFile: input, stdoutFile: output });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(fs.readFileSync(output).equals(bytes)).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
