// The project reaches into two internals of @kubernetes/client-node (src/kube/client.ts: one
// undici dispatcher per TLS setting instead of one per request; src/kube/watch.ts: the watch's
// request timeout). package.json pins the exact version; these tests fail the day an upgrade
// moves or renames them, instead of the action silently losing its connection reuse or timeout.
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('client-node internals the project relies on', () => {
  it('is the exact version package.json pins', () => {
    const pinned = (JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> }).dependencies['@kubernetes/client-node'];
    const installed = (JSON.parse(readFileSync('node_modules/@kubernetes/client-node/package.json', 'utf8')) as { version: string }).version;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed).toBe(pinned);
  });
  it('KubeConfig makes dispatchers through createDispatcher(cluster, agentOptions) and exposes createDispatcherOptions', () => {
    const proto = k8s.KubeConfig.prototype as unknown as Record<string, unknown>;
    expect(typeof proto.createDispatcher).toBe('function');
    expect((proto.createDispatcher as (...a: unknown[]) => unknown).length).toBe(2);
    expect(typeof proto.createDispatcherOptions).toBe('function');
  });
  it('Watch keeps its request timeout in requestTimeoutMs', () => {
    const w = new k8s.Watch(new k8s.KubeConfig()) as unknown as Record<string, unknown>;
    expect(typeof w.requestTimeoutMs).toBe('number');
  });
});
