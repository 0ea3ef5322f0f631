import { defineConfig } from 'vitest/config';

/**
 * Three tiers (docs/testing.md). A file goes by what it runs: Chromium makes it
 * `browser`; the real model, the real-geometry stand-in over song-length and
 * longer inputs, or minutes paced to the wall clock make it `real`; everything
 * else is `unit` (tiny models, short inputs, virtual time), the edit-test loop.
 */
const BROWSER = [
  'test/browser-*.test.ts',
  'test/consumer*.test.ts',
  'test/readme-quickstart.test.ts',
];
const REAL = [
  'test/real-model.test.ts',
  'test/real-model-stream.test.ts',
  'test/real-geometry-realtime.test.ts',
  'test/optimize-web-real.test.ts',
  'test/soak.test.ts',
  'test/bounded-memory-long.test.ts',
  'test/fault-recovery.test.ts',
];

export default defineConfig({
  test: {
    // The real-model tests run several 7.8 s segments on 2 cores.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // One file at a time across all projects: the real-time and memory checks
    // measure this process, and the machine has 2 cores.
    fileParallelism: false,
    // In this order (groupOrder), so that `npm test` reports the fast tier first.
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...BROWSER, ...REAL], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'browser', include: BROWSER, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'real', include: REAL, sequence: { groupOrder: 2 } } },
    ],
  },
});
