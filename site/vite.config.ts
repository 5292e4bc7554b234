import { defineConfig } from "vitest/config";

// The Rust server (`agentry serve`) listens on 127.0.0.1:3000 in development. The dev server
// forwards the API (including the chat WebSockets) there, so the session cookie is same-origin.
const server = "http://127.0.0.1:3000";

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
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
