// Preloaded into the action's node processes by the bench (NODE_OPTIONS=--import): at exit,
// appends the process's own resource usage (getrusage: peak RSS, user and system CPU) as one
// JSON line to GAC_BENCH_PROBE_FILE. Exact, where sampling /proc from outside would miss the end.
import { appendFileSync } from 'node:fs';
import process from 'node:process';

const file = process.env.GAC_BENCH_PROBE_FILE;
if (file) {
  process.on('exit', (code) => {
    const u = process.resourceUsage();
    const line = {
      pid: process.pid,
      code,
      uptimeMs: Math.round(process.uptime() * 1000),
      maxRssKb: u.maxRSS,
      userCpuMs: Math.round(u.userCPUTime / 1000),
      systemCpuMs: Math.round(u.systemCPUTime / 1000),
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  });
}
