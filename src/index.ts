// One bundle serves both steps: main saves isPost first, so the post step knows what it is.
import * as core from '@actions/core';
import { main } from './main.js';
import { post } from './post.js';
import { isPost } from './state.js';

const step = isPost() ? post : main;
step().catch((e: unknown) => {
  core.setFailed(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
});
