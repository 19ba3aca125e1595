// karpenter-build: the install mode's build (go binary or ko image), once per key, from the tool cache when it can.
import { providerFor } from '../karpenter/index.js';
import { pass, type Stage } from './stage.js';

export const karpenterBuildStage: Stage = {
  name: 'karpenter-build',
  skipReason: (config) => providerFor(config).installsNothing,
  async run(ctx) {
    return pass(await providerFor(ctx.config).build(ctx));
  },
};
