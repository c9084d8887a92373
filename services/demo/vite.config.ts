import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The demo's web app. `vite build` writes dist/, which the demo server (src/server) serves.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
});
