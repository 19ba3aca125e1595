import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { Kube } from './client.js';
import { collectionPath } from './paths.js';
import { ApiError, getJson, rawRequest } from './raw.js';

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
  return (err instanceof k8s.ApiException && err.code === 404) || (err instanceof ApiError && err.status === 404);
}

/**
 * Server-side apply with force: the action owns the fields it sets and takes them over from
 * other managers (a re-run must converge, not conflict with its own earlier apply).
 *
 * The body is the object as written, serialized as plain JSON: the typed serializer of
 * client-node keeps only fields whose JSON name equals the TypeScript name, and drops
 * `default`, `x-kubernetes-validations` and most `enum`s of a CRD's schema.
 */
export async function applyObject(
  kube: Kube,
  obj: k8s.KubernetesObject,
  opts: { fieldManager?: string; signal?: AbortSignal } = {},
): Promise<k8s.KubernetesObject> {
  const body = applyBody(obj);
  const path = await objectPath(kube, body as ObjectRef);
  const r = await rawRequest(kube, path, {
    method: 'PATCH',
    query: { fieldManager: opts.fieldManager ?? FIELD_MANAGER, force: 'true' },
    body: { text: JSON.stringify(body), contentType: 'application/apply-patch+yaml' },
    signal: opts.signal,
  });
  if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, path, r.text, 'PATCH');
  return r.body as k8s.KubernetesObject;
}

/** The apply body: the object as written, minus the server-owned metadata that makes an apply fail or conflict. Pure. */
export function applyBody(obj: k8s.KubernetesObject): k8s.KubernetesObject {
  const { managedFields: _m, resourceVersion: _r, uid: _u, creationTimestamp: _c, ...metadata } = obj.metadata ?? {};
  return { ...obj, metadata };
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** Discovery answers per client and apiVersion: one GET per group version a run applies to. */
const discovered = new WeakMap<Kube, Map<string, Promise<ApiResource[]>>>();

async function resourcesOf(kube: Kube, apiVersion: string): Promise<ApiResource[]> {
  let byVersion = discovered.get(kube);
  if (!byVersion) discovered.set(kube, (byVersion = new Map()));
  let list = byVersion.get(apiVersion);
  if (!list) {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    list = getJson<{ resources: ApiResource[] }>(kube, base).then((l) => l.resources.filter((r) => !r.name.includes('/')));
    // A failed discovery (a CRD not yet served) must be asked again next time.
    list.catch(() => byVersion.delete(apiVersion));
    byVersion.set(apiVersion, list);
  }
  return list;
}

/** The object's URL path, from API discovery (kind -> resource name and scope). */
export async function objectPath(kube: Kube, ref: ObjectRef): Promise<string> {
  let resource = (await resourcesOf(kube, ref.apiVersion)).find((r) => r.kind === ref.kind);
  if (!resource) {
    // A CRD established since this client last asked: ask discovery once more.
    discovered.get(kube)?.delete(ref.apiVersion);
    resource = (await resourcesOf(kube, ref.apiVersion)).find((r) => r.kind === ref.kind);
  }
  if (!resource) throw new Error(`the API ${ref.apiVersion} serves no kind ${ref.kind}`);
  const namespace = resource.namespaced ? (ref.metadata.namespace ?? 'default') : undefined;
  return `${collectionPath(ref.apiVersion, resource.name, namespace)}/${encodeURIComponent(ref.metadata.name)}`;
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
