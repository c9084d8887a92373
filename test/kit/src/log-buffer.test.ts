import { describe, expect, it } from "vitest";
import { collapseRepeats, LogBuffer } from "./log-buffer.ts";

describe("LogBuffer.tail", () => {
  it("collapses a run of the same nats-server message, so the lines before it stay in the tail", () => {
    const log = new LogBuffer();
    log.append("[9] 2026/12/07 05:00:01.000001 [WRN] RAFT [x - _meta_] Falling behind in health check\n");
    for (let i = 0; i < 3000; i++) {
      log.append(
        `[9] 2026/12/07 05:00:${String(2 + (i % 50)).padStart(2, "0")}.${i} [WRN] Healthcheck failed: "JetStream is not current with the meta leader"\n`,
      );
    }
    const tail = log.tail(400);
    expect(tail).toContain("Falling behind in health check");
    expect(tail).toContain(
      'Healthcheck failed: "JetStream is not current with the meta leader"\n  (× 3000, last at 05:00:',
    );
  });

  it("keeps lines that differ, and lines without a log prefix, as they are", () => {
    const text = "plain\n[1] 2026/01/01 00:00:00.1 [INF] a\n[1] 2026/01/01 00:00:00.2 [INF] b\nplain\nplain\n";
    expect(collapseRepeats(text)).toBe(text);
    expect(collapseRepeats("[1] 2026/01/01 00:00:00.1 [WRN] x\n[1] 2026/01/01 00:00:01.5 [WRN] x\n")).toBe(
      "[1] 2026/01/01 00:00:00.1 [WRN] x\n  (× 2, last at 00:00:01.5)\n",
    );
  });
});
