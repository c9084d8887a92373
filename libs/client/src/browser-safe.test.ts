import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import WebSocketFromWs from "ws";
import type { WebSocketConstructorLike } from "./websocket-like.ts";

const SRC = import.meta.dirname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("the client runs in a browser", () => {
  const files = sourceFiles(SRC);
  const shipped = files.filter((f) => !relative(SRC, f).startsWith("test-support"));

  it("finds the sources", () => {
    expect(shipped.map((f) => relative(SRC, f))).toContain("client.ts");
  });

  it.each(files.map((f) => [relative(SRC, f), f]))("%s uses no Node built-ins", (_, file) => {
    const text = readFileSync(file, "utf8");
    expect(text).not.toMatch(/from\s+["']node:/);
    expect(text).not.toMatch(/\brequire\(/);
    expect(text).not.toMatch(/\bBuffer\b/);
    expect(text).not.toMatch(/\bprocess\./);
  });

  it("reads import specifiers (the check below is not vacuous)", () => {
    expect(importsOf(join(SRC, "client.ts"))).toEqual(
      expect.arrayContaining(["@threadline/protocol", "./session-handle.ts"]),
    );
  });

  it.each(shipped.map((f) => [relative(SRC, f), f]))("%s imports only @threadline/protocol and siblings", (_, file) => {
    for (const specifier of importsOf(file))
      expect(specifier).toMatch(/^(\.\.?\/.*\.ts|@threadline\/protocol|@threadline\/protocol\/notification)$/);
  });

  // A service worker bundle stays small: the subpath pulls in neither the client nor the protocol's codec,
  // only the protocol's notification module, which imports nothing.
  const worker = shipped.filter((f) => relative(SRC, f).startsWith("service-worker/"));
  it("finds the service worker sources", () => {
    expect(worker.map((f) => relative(SRC, f))).toContain("service-worker/install.ts");
  });
  it.each(worker.map((f) => [relative(SRC, f), f]))("%s imports only its siblings, types included", (_, file) => {
    for (const specifier of [...importsOf(file), ...typeImportsOf(file)])
      expect(specifier).toMatch(/^(\.\/[a-z-]+\.ts|@threadline\/protocol\/notification)$/);
  });
  it("the protocol's notification module imports nothing", () => {
    const file = join(SRC, "../../protocol/src/notification.ts");
    expect([...importsOf(file), ...typeImportsOf(file)]).toEqual([]);
  });

  // The framework adapters (subpaths ai-sdk/, tanstack/) name their framework's types only: no runtime dependency.
  it.each(shipped.map((f) => [relative(SRC, f), f]))("%s imports framework packages as types only", (_, file) => {
    for (const specifier of typeImportsOf(file)) {
      expect(specifier).toMatch(/^(\.\.?\/.*\.ts|@threadline\/protocol|ai|@tanstack\/ai|@tanstack\/ai-client)$/);
    }
  });
});

/** Specifiers of import/export statements at the start of a line (not strings that mention imports), except `import type`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)\s(?!type\s)(?:[^;]*?\sfrom\s)?\s*["']([^"']+)["']/gm)].map(
    (m) => m[1] ?? "",
  );
}

/** Specifiers of `import type` statements (erased at runtime). */
function typeImportsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^import\stype\s[^;]*?\sfrom\s*["']([^"']+)["']/gm)].map((m) => m[1] ?? "");
}

/**
 * Compile-time checks (tsc runs over tests): the DOM WebSocket and the `ws`
 * package's WebSocket are both accepted without a cast. Never called: Node 20
 * has no global WebSocket at runtime.
 */
export function webSocketTypesAccepted(): WebSocketConstructorLike[] {
  return [WebSocket, WebSocketFromWs];
}
