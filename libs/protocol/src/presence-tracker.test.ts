import { describe, expect, test } from "vitest";
import type { PresenceEntry, PresenceKey } from "./presence.ts";
import { PresenceTracker } from "./presence-tracker.ts";

const key = (connection: string, id = "alice"): PresenceKey => ({ session: "s1", kind: "user", id, connection });
const entry = (connection: string, patch: Partial<PresenceEntry> = {}): PresenceEntry => ({
  kind: "user",
  id: "alice",
  connection,
  device: `d-${connection}`,
  status: "active",
  since: 1,
  heartbeatMs: 2000,
  ...patch,
});

describe("PresenceTracker", () => {
  test("a user with three connections joins once, updates per device change, leaves after the last", () => {
    const t = new PresenceTracker();
    expect(t.put(key("c1"), entry("c1"))?.type).toBe("presence.join");
    expect(t.put(key("c2"), entry("c2"))?.type).toBe("presence.update");
    const third = t.put(key("c3"), entry("c3"));
    expect(third?.type).toBe("presence.update");
    expect(third?.data.devices.map((d) => d.device)).toEqual(["d-c1", "d-c2", "d-c3"]);
    expect(t.remove(key("c1"), "closed")?.type).toBe("presence.update");
    expect(t.remove(key("c2"), "closed")?.type).toBe("presence.update");
    const leave = t.remove(key("c3"), "closed");
    expect(leave).toMatchObject({ type: "presence.leave", data: { id: "alice", reason: "closed", devices: [] } });
    expect(t.members("s1")).toEqual([]);
    expect(t.size).toBe(0);
  });

  test("a heartbeat (same visible state) is no transition; a status change is an update", () => {
    const t = new PresenceTracker();
    t.put(key("c1"), entry("c1"));
    expect(t.put(key("c1"), entry("c1"))).toBeUndefined();
    const update = t.put(key("c1"), entry("c1", { status: "idle", since: 2 }));
    expect(update).toMatchObject({ type: "presence.update", data: { status: "idle", since: 2 } });
  });

  test("removing an unknown connection (replay, other session) is a no-op", () => {
    const t = new PresenceTracker();
    expect(t.remove(key("nope"), "left")).toBeUndefined();
    t.put(key("c1"), entry("c1"));
    expect(t.remove(key("c1"), "left")?.type).toBe("presence.leave");
    expect(t.remove(key("c1"), "left")).toBeUndefined();
  });

  test("member status follows the most recently changed connection; hasKind", () => {
    const t = new PresenceTracker();
    t.put(key("c1"), entry("c1", { since: 5, status: "busy" }));
    t.put(key("c2"), entry("c2", { since: 9, status: "idle", name: "Alice" }));
    expect(t.members("s1")).toMatchObject([{ status: "idle", since: 9, name: "Alice" }]);
    expect(t.hasKind("s1", "user")).toBe(true);
    expect(t.hasKind("s1", "agent")).toBe(false);
  });
});
