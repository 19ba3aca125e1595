// Registers loader.mjs: node --experimental-transform-types --import ./register.mjs src/index.ts
import { register } from 'node:module';
register('./loader.mjs', import.meta.url);
