#!/usr/bin/env node
// The `threadline` command. Sources are TypeScript consumed directly (like the
// rest of the workspace), so this shim registers tsx and runs the entry.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
