// Status conditions as every Kubernetes object carries them (metav1.Condition and friends).
// iso lives with the API plumbing (kube/ imports nothing above it); decisions use it from here too.
import { iso } from '../kube/time.js';

export { iso };

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string | Date;
}

export interface WithConditions {
  status?: { conditions?: Condition[] };
}

export function condition(obj: WithConditions | undefined, type: string): Condition | undefined {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

export const isTrue = (obj: WithConditions | undefined, type: string): boolean => condition(obj, type)?.status === 'True';

/** "Type=Status (Reason: message)" lines, for evidence and failure messages. */
export function formatConditions(obj: WithConditions | undefined): string {
  const cs = obj?.status?.conditions ?? [];
  if (cs.length === 0) return '(no conditions)';
  return cs
    .map(
      (c) =>
        `${c.type}=${c.status}${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}${c.lastTransitionTime ? ` since ${iso(c.lastTransitionTime)}` : ''}`,
    )
    .join('\n');
}
