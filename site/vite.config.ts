import { defineConfig } from "vitest/config";

// The Rust server (`agentry server`) listens on 127.0.0.1:3000 by default; AGENTRY_API points the
// dev and preview servers elsewhere. They forward the API (chat WebSockets included) so the
// session cookie is same-origin.
const server = process.env.AGENTRY_API ?? "http://127.0.0.1:3000";

export default defineConfig({
  server: {
    proxy: {
      "/api": { target: server, ws: true, changeOrigin: false },
      "/healthz": { target: server },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: {
      // Ariakit's modules start with React Server Components' "use client"; a client-only
      // bundle has nothing to preserve, so the warning (one per module) is noise.
      onwarn(warning, warn) {
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
