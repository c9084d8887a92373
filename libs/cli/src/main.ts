#!/usr/bin/env -S node --import tsx
import { runCli } from "./cli.ts";
import { withLocalLauncher } from "./local-launcher.ts";

// Ctrl-C / SIGTERM end a following command (tail) cleanly; a second signal exits at once.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  });
}
// A closed pipe (`threadline tail s1 | head`) ends the command quietly.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

const argv = process.argv.slice(2);
process.exitCode = await runCli(argv, {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  // No connection settings at all: the running local `npm start`, if there is one (launcher.json).
  env: withLocalLauncher(process.env, argv, process.cwd()),
  signal: controller.signal,
  now: Date.now,
});
// Everything is closed by now; should a stray handle keep the loop alive, do not hang the shell.
setTimeout(() => process.exit(), 2000).unref();
