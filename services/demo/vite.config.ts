import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { serviceWorker } from "./src/build/service-worker-plugin.ts";

// The demo's web app. `vite build` writes dist/ (the page, and sw.js: its service worker), which the demo
// server (src/server) serves.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react(), serviceWorker({ entry: "src/sw/sw.ts", fileName: "sw.js" })],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
});
