import { build, type Plugin, type ResolvedConfig } from "vite";

/**
 * Builds the service worker next to the app with Vite (the same bundler as
 * the page): after the app's bundle is written, `entry` is bundled on its
 * own as one classic script (IIFE, no imports: every browser runs it, with
 * no `type: "module"` registration) into `<outDir>/<fileName>` — at the root,
 * so its scope is the whole app. Only in `vite build`.
 * @example plugins: [react(), serviceWorker({ entry: "src/sw/sw.ts", fileName: "sw.js" })]
 */
export function serviceWorker(options: { entry: string; fileName: string }): Plugin {
  let config: ResolvedConfig | undefined;
  return {
    name: "threadline-demo-service-worker",
    apply: "build",
    configResolved(resolved) {
      config = resolved;
    },
    async closeBundle() {
      if (!config) return;
      await build({
        configFile: false,
        root: config.root,
        mode: config.mode,
        logLevel: config.logLevel,
        build: {
          outDir: config.build.outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          minify: config.build.minify,
          lib: {
            entry: options.entry,
            formats: ["iife"],
            name: "threadlineServiceWorker",
            fileName: () => options.fileName,
          },
        },
      });
    },
  };
}
