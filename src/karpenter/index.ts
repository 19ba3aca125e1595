// The provider of each karpenter-mode: the one place modes differ (see CONTRIBUTING.md,
// "How to add an install mode").
import { requiredPermissions, type Permission } from '../checks/permissions.js';
import type { Config } from '../types.js';
import { existingProvider } from './existing.js';
import { kindProvider, registryProvider } from './helm.js';
import { processProvider } from './process.js';
import type { KarpenterProvider } from './provider.js';

export type { KarpenterProvider };

const PROVIDERS: Record<Config['karpenterMode'], KarpenterProvider> = {
  process: processProvider,
  kind: kindProvider,
  registry: registryProvider,
  existing: existingProvider,
};

export function providerFor(config: Pick<Config, 'karpenterMode'>): KarpenterProvider {
  return PROVIDERS[config.karpenterMode];
}

/** Every access the selected stages need with the run's mode. Pure. */
export function permissionsFor(config: Config, namespace: string): Permission[] {
  return requiredPermissions(config, namespace, providerFor(config).installRules());
}
