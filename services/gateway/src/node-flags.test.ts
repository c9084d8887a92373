import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GATEWAY_NODE_FLAGS } from "./node-flags.ts";

const read = (file: string) => readFileSync(new URL(file, import.meta.url), "utf8");

describe("GATEWAY_NODE_FLAGS", () => {
  it("are flags this node accepts (a typo would stop every launcher)", () => {
    const out = execFileSync(process.execPath, [...GATEWAY_NODE_FLAGS, "-e", "process.stdout.write('ok')"], {
      encoding: "utf8",
    });
    expect(out).toBe("ok");
  });

  it("are the ones main.ts's shebang runs it with (the package's bin)", () => {
    const shebang = read("./main.ts").split("\n")[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${GATEWAY_NODE_FLAGS.join(" ")} --import tsx`);
  });

  it("are the ones the Dockerfile's CMD runs it with", () => {
    const cmd = /^CMD (.+)$/m.exec(read("../Dockerfile"))?.[1];
    expect(JSON.parse(cmd ?? "null")).toEqual([
      "node",
      ...GATEWAY_NODE_FLAGS,
      "--import",
      "tsx",
      "services/gateway/src/main.ts",
    ]);
  });
});
