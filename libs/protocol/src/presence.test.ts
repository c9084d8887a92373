import { describe, expect, test } from "vitest";
import {
  applyPresenceEvent,
  parsePresenceKey,
  presenceEntryProblem,
  presenceEventId,
  presenceKey,
  presenceMetadataProblem,
} from "./presence.ts";

describe("presence keys and values", () => {
  test("keys round-trip and refuse bad tokens", () => {
    expect(presenceKey("s1", "agent", "a1", "c1")).toBe("s1.agent.a1.c1");
    expect(parsePresenceKey("s1.agent.a1.c1")).toEqual({ session: "s1", kind: "agent", id: "a1", connection: "c1" });
    expect(parsePresenceKey("s1.system.a1.c1")).toBeUndefined();
    expect(parsePresenceKey("s1.user.a1")).toBeUndefined();
    expect(() => presenceKey("s 1", "user", "a", "c")).toThrow(TypeError);
  });

  test("values are validated against their key", () => {
    const key = { session: "s1", kind: "user" as const, id: "u1", connection: "c1" };
    const good = { kind: "user", id: "u1", connection: "c1", status: "active", since: 1, heartbeatMs: 2000 };
    expect(presenceEntryProblem(good, key)).toBeUndefined();
    expect(presenceEntryProblem({ ...good, id: "u2" }, key)).toMatch(/match the key/);
    expect(presenceEntryProblem({ ...good, status: "Active!" }, key)).toMatch(/status/);
    expect(presenceEntryProblem({ ...good, heartbeatMs: 5 }, key)).toMatch(/heartbeatMs/);
    expect(presenceEntryProblem({ ...good, gone: "vanished" }, key)).toMatch(/gone/);
    expect(presenceEntryProblem("nope", key)).toMatch(/object/);
  });

  test("metadata above 1 KiB is refused", () => {
    expect(presenceMetadataProblem({ a: "x".repeat(100) })).toBeUndefined();
    expect(presenceMetadataProblem({ a: "x".repeat(2000) })).toMatch(/exceeds/);
    expect(presenceMetadataProblem([1])).toMatch(/object/);
  });

  test("event ids derive from revision and transition only (replicas agree)", () => {
    expect(presenceEventId(42, "presence.leave")).toBe("presence-42-leave");
    expect(presenceEventId(42, "presence.join")).not.toBe(presenceEventId(43, "presence.join"));
  });

  test("applyPresenceEvent maintains a member map", () => {
    const members = new Map();
    const data = { kind: "user", id: "u1", status: "active", since: 1, devices: [{ connection: "c1" }] };
    applyPresenceEvent(members, "presence.join", data);
    expect([...members.keys()]).toEqual(["user.u1"]);
    applyPresenceEvent(members, "presence.leave", { ...data, devices: [], reason: "closed" });
    expect(members.size).toBe(0);
    expect(applyPresenceEvent(members, "message.append", data)).toBeUndefined();
  });
});
