import type * as k8s from '@kubernetes/client-node';
import type { Kube } from './client.js';
import { iso } from './time.js';

/** When an event happened: series/last time first, as kubectl sorts them. */
export const eventTime = (e: k8s.CoreV1Event): string =>
  iso(e.lastTimestamp) ?? iso(e.eventTime as unknown as string) ?? iso(e.firstTimestamp) ?? iso(e.metadata?.creationTimestamp) ?? '';

/** When an event first happened (eventTime of a series, else firstTimestamp): the earliest sign of it. */
export const eventFirstTime = (e: k8s.CoreV1Event): string =>
  iso(e.eventTime as unknown as string) ?? iso(e.firstTimestamp) ?? iso(e.metadata?.creationTimestamp) ?? iso(e.lastTimestamp) ?? '';

/** Events as `kubectl get events` prints them: time, type, reason, object, message. Pure. */
export function formatEvents(events: k8s.CoreV1Event[]): string {
  if (events.length === 0) return '(no events)';
  return [...events]
    .sort((a, b) => eventTime(a).localeCompare(eventTime(b)))
    .map(
      (e) =>
        `${eventTime(e)}  ${e.type ?? ''}  ${e.reason ?? ''}  ${e.involvedObject?.kind}/${e.involvedObject?.name}  ${e.count && e.count > 1 ? `(x${e.count}) ` : ''}${e.message ?? ''}`,
    )
    .join('\n');
}

/** Events of a namespace, optionally only those about one object or with one reason. */
export async function listEvents(kube: Kube, namespace: string, about?: { kind?: string; name?: string; reason?: string }): Promise<k8s.CoreV1Event[]> {
  const sel: string[] = [];
  if (about?.kind) sel.push(`involvedObject.kind=${about.kind}`);
  if (about?.name) sel.push(`involvedObject.name=${about.name}`);
  if (about?.reason) sel.push(`reason=${about.reason}`);
  const list = await kube.core.listNamespacedEvent({ namespace, fieldSelector: sel.join(',') || undefined });
  return list.items;
}

/** The kubectl command that shows the same events. */
export function eventsCommand(namespace: string, about?: { kind?: string; name?: string; reason?: string }): string {
  const sel: string[] = [];
  if (about?.kind) sel.push(`involvedObject.kind=${about.kind}`);
  if (about?.name) sel.push(`involvedObject.name=${about.name}`);
  if (about?.reason) sel.push(`reason=${about.reason}`);
  return `kubectl get events -n ${namespace} --sort-by=.lastTimestamp${sel.length ? ` --field-selector ${sel.join(',')}` : ''}`;
}
