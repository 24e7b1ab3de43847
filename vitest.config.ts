import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites start real servers and child processes; forks isolate them and their file descriptors.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Generous timeouts only bound a broken test; no test waits on a timer to pass.
  },
})
