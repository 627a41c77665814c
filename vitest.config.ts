import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Media tests share 2 cores with a browser and native WebRTC: run files one at a time.
    fileParallelism: false,
    pool: 'forks',
    // Workers exit without running native finalizers, which can crash wrtc after the tests passed.
    setupFiles: ['test/helpers/exitWithoutFinalizers.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
