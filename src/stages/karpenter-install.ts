// karpenter-install: the install mode puts Karpenter in place (or checks the installed one) and
// passes only once it runs: its pod Ready and reconciling, or its process healthy.
import { providerFor } from '../karpenter/index.js';
import { pass, type Stage } from './stage.js';

export const karpenterInstallStage: Stage = {
  name: 'karpenter-install',
  async run(ctx) {
    return pass(await providerFor(ctx.config).install(ctx));
  },
  async diagnose(ctx) {
    await providerFor(ctx.config).diagnose(ctx);
  },
};
