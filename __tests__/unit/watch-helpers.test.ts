import { describe, expect, it } from 'vitest';
import type * as k8s from '@kubernetes/client-node';
import { abortReasonText, applyEvent, isGone, objectKey, reconnectDelayMs, WatchAbortedError } from '../../src/kube/watch.js';
import { formatEvents } from '../../src/kube/events.js';

describe('watch bookkeeping', () => {
  const o = (name: string, ns?: string, rv = '1'): k8s.KubernetesObject => ({ metadata: { name, namespace: ns, resourceVersion: rv } });
  it('keys objects by namespace/name', () => {
    expect(objectKey(o('a', 'ns'))).toBe('ns/a');
    expect(objectKey(o('n1'))).toBe('n1');
  });
  it('applies ADDED/MODIFIED/DELETED and ignores BOOKMARK', () => {
    const items = new Map<string, k8s.KubernetesObject>();
    expect(applyEvent(items, 'ADDED', o('a'))).toBe(true);
    expect(applyEvent(items, 'MODIFIED', o('a', undefined, '2'))).toBe(true);
    expect(items.get('a')?.metadata?.resourceVersion).toBe('2');
    expect(applyEvent(items, 'BOOKMARK', o('', undefined, '9'))).toBe(false);
    expect(items.size).toBe(1);
    expect(applyEvent(items, 'DELETED', o('a'))).toBe(true);
    expect(items.size).toBe(0);
  });
  it('recognises 410 Gone in ERROR events and failed requests', () => {
    expect(isGone({ kind: 'Status', code: 410, reason: 'Expired' })).toBe(true);
    expect(isGone({ statusCode: 410 })).toBe(true);
    expect(isGone({ reason: 'Gone' })).toBe(true);
    expect(isGone({ code: 500 })).toBe(false);
    expect(isGone(undefined)).toBe(false);
  });
  it('backs off reconnects, capped', () => {
    expect(reconnectDelayMs(0)).toBe(100);
    expect(reconnectDelayMs(3)).toBe(800);
    expect(reconnectDelayMs(20)).toBe(5000);
  });
  it('says why a wait ended and what it saw last', () => {
    expect(abortReasonText(new DOMException('t', 'TimeoutError'))).toBe('the stage timeout');
    expect(abortReasonText(undefined)).toBe('cancellation');
    const e = new WatchAbortedError('nodes ready', '2 object(s)', new DOMException('t', 'TimeoutError'));
    expect(e.message).toBe('nodes ready: not reached before the stage timeout; last seen: 2 object(s)');
  });
});

describe('events', () => {
  it('prints events like kubectl, oldest first', () => {
    const ev = (reason: string, t: string, count = 1) =>
      ({ reason, type: 'Warning', message: 'm', count, lastTimestamp: new Date(t), involvedObject: { kind: 'Pod', name: 'p' } }) as unknown as k8s.CoreV1Event;
    expect(formatEvents([ev('B', '2026-01-01T00:00:02Z', 3), ev('A', '2026-01-01T00:00:01Z')])).toBe(
      '2026-01-01T00:00:01.000Z  Warning  A  Pod/p  m\n2026-01-01T00:00:02.000Z  Warning  B  Pod/p  (x3) m',
    );
    expect(formatEvents([])).toBe('(no events)');
  });
});
