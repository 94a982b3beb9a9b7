/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  // The client is served at `/` by `nexus serve`; assets are hashed and immutable.
  base: "./",
  build: {
    outDir: process.env.NEXUS_WEB_OUT ?? "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 4096,
  },
  // `vite` / `vite preview` during development: the APIs of a running
  // homeserver (NEXUS_DEV_HOMESERVER, e.g. http://127.0.0.1:8008) on the
  // same origin, as `nexus serve` gives them.
  ...devProxy(process.env.NEXUS_DEV_HOMESERVER),
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts"],
  },
});

function devProxy(target: string | undefined) {
  if (!target) return {};
  const proxy = Object.fromEntries(["/_matrix", "/_nexus", "/.well-known"].map((path) => [path, { target, ws: true }]));
  return { server: { proxy }, preview: { proxy } };
}
