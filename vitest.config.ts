import { defineConfig } from 'vitest/config';

// Four projects: unit (no cluster), bed (against the running test bed), e2e (the bundle as a
// runner runs it, against the bed), kind (a real kind cluster, with the bed's metric pipeline). The bed and e2e share one cluster, so their files run one at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['__tests__/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'bed',
          include: ['__tests__/bed/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          // The real kind cluster (testbed/kind/up): what must run as a pod. One file at a time: one cluster.
          name: 'kind',
          include: ['__tests__/kind/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 1_500_000,
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['__tests__/e2e/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
