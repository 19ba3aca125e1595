// Lets Node (native type stripping) run the bed's TypeScript, whose relative imports say `.js`
// as NodeNext requires: a `.js` specifier that does not exist resolves to the `.ts` beside it.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (e) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(`${specifier.slice(0, -3)}.ts`, context);
      throw e;
    }
  },
});
