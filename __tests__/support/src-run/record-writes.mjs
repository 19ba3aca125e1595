// Preloaded into a step under test (GAC_RECORD_WRITES=<file>): keeps every version written to
// that file as <file>.1, <file>.2, ..., so a test can see what the file held at each write
// instead of racing the step to read it. Patches fs.writeFileSync and syncs the builtin ESM
// exports, so `import * as fs from 'node:fs'` in the step sees the patch too.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import process from 'node:process';

const watched = process.env.GAC_RECORD_WRITES;
if (watched) {
  const write = fs.writeFileSync;
  let n = 0;
  fs.writeFileSync = function (file, data, ...rest) {
    const r = write.call(this, file, data, ...rest);
    if (String(file) === watched) write.call(this, `${watched}.${++n}`, data);
    return r;
  };
  syncBuiltinESMExports();
}
