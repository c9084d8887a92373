import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";

describe("publish retries", () => {
  it.each(["PUBLISH_FAILED", "RATE_LIMITED", "UNAVAILABLE", "TOO_MANY_PENDING"])(
    "retries after a retryable %s with the same id and a new rid",
    async (code) => {
      const { conn, handle } = await attachedSession();
      const publishing = handle.publish({ type: "input", data: { text: "x" } });
      const first = await conn.take("publish");
      conn.error(first, code, "try again", true);
      const second = await conn.take("publish");
      expect(second.event).toEqual(first.event);
      expect(second.rid).not.toBe(first.rid);
      conn.published(second, 9);
      expect(await publishing).toEqual({ id: first.event.id, seq: 9, duplicate: false });
    },
  );

  it("rejects a terminal error at once, without resending", async () => {
    const { conn, handle } = await attachedSession();
    const publishing = handle.publish({ type: "cancel", turn: "t1" });
    conn.error(await conn.take("publish"), "FORBIDDEN", "no control");
    await expect(publishing).rejects.toMatchObject({ code: "FORBIDDEN", session: "s1", retryable: false });
    // Frames are ordered: had the first been resent, the resend would come before this one.
    void handle.publish({ type: "input" }).catch(() => {});
    const next = await conn.take("publish");
    expect(next.event.type).toBe("input");
  });

  it("gives up after a bounded number of retries with the last error", async () => {
    const { conn, handle } = await attachedSession();
    const publishing = handle.publish({ type: "input" });
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) {
      const frame = await conn.take("publish");
      ids.add(frame.event.id ?? "");
      conn.error(frame, "PUBLISH_FAILED", `attempt ${i}`, true);
    }
    await expect(publishing).rejects.toMatchObject({ code: "PUBLISH_FAILED", message: "attempt 6" });
    expect(ids.size).toBe(1);
    expect(conn.all("publish")).toHaveLength(7);
  });
});
