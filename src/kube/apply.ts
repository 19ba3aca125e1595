import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { Kube } from './client.js';

/** The field manager of every server-side apply the action makes (visible in managedFields). */
export const FIELD_MANAGER = 'gpu-autoscaling-conformance';

/** apiVersion, kind, name (and namespace): enough to address one object. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** True when the error is the apiserver's 404 (object, or its API group, absent). */
export function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

/**
 * Server-side apply with force: the action owns the fields it sets and takes them over from
 * other managers (a re-run must converge, not conflict with its own earlier apply).
 */
export async function applyObject(kube: Kube, obj: k8s.KubernetesObject, opts: { fieldManager?: string } = {}): Promise<k8s.KubernetesObject> {
  // managedFields/resourceVersion in an apply body are errors or conflicts: send only intent.
  const { managedFields: _m, resourceVersion: _r, uid: _u, creationTimestamp: _c, ...metadata } = obj.metadata ?? {};
  const body = { ...obj, metadata } as k8s.KubernetesObject;
  return kube.objects.patch(body, undefined, undefined, opts.fieldManager ?? FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
}

/** Reads one object; undefined when it (or its kind) does not exist. */
export async function readObject(kube: Kube, ref: ObjectRef): Promise<k8s.KubernetesObject | undefined> {
  try {
    return await kube.objects.read(header(ref));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Deletes one object; false when it was already gone. */
export async function deleteObject(kube: Kube, obj: ObjectRef): Promise<boolean> {
  try {
    await kube.objects.delete(header(obj));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Parses multi-document YAML text into objects, skipping empty documents; throws on syntax errors. */
export function parseManifests(text: string, source = 'manifest'): k8s.KubernetesObject[] {
  const objects: k8s.KubernetesObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${source}: a document is not a Kubernetes object`);
    }
    objects.push(value as k8s.KubernetesObject);
  }
  return objects;
}

/** Reads a multi-document YAML file into objects. */
export function readManifests(file: string): k8s.KubernetesObject[] {
  return parseManifests(readFileSync(file, 'utf8'), file);
}

function header(ref: ObjectRef): ObjectRef {
  const { apiVersion, kind, metadata } = ref;
  return {
    apiVersion,
    kind,
    metadata: metadata.namespace ? { name: metadata.name, namespace: metadata.namespace } : { name: metadata.name },
  };
}
