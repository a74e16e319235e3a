import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Fails the run at once, naming the Debian package, when a daemon or module the data-plane tests need is missing.
    globalSetup: ["test/support/preflight.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Daemon tests bind fixed loopback ports and create network namespaces: run files one at a time.
    fileParallelism: false,
  },
});
