import { afterEach, describe, expect, test, vi } from "vitest";
import type { PresenceConnection, PresenceWriter } from "../presence-writer.ts";
import { HttpPresence } from "./http-presence.ts";

/** Records what HttpPresence asks of the presence writer. */
function recordingWriter() {
  const calls: string[] = [];
  const entries = new Set<string>();
  const writer = {
    enter: (c: PresenceConnection) => {
      entries.add(c.connection);
      calls.push(`enter ${c.id}/${c.device}`);
    },
    leave: (c: PresenceConnection, reason: string) => {
      entries.delete(c.connection);
      calls.push(`leave ${c.id}/${c.device} ${reason}`);
    },
    update: (c: PresenceConnection, status: string) => {
      calls.push(`update ${c.id}/${c.device} ${status}`);
      return entries.has(c.connection);
    },
  } as unknown as PresenceWriter;
  return { writer, calls };
}

const reader = (device = "tab-1") => ({ session: "s1", kind: "user" as const, id: "alice", device });

describe("HttpPresence", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test("one entry per device while reads are open, kept through a reconnect within the linger, then closed", () => {
    vi.useFakeTimers();
    const { writer, calls } = recordingWriter();
    const presence = new HttpPresence(writer, 1000);
    const first = presence.hold(reader());
    const second = presence.hold(reader());
    first();
    first(); // releasing twice counts once
    second();
    vi.advanceTimersByTime(999);
    const next = presence.hold(reader()); // the SSE reconnect
    vi.advanceTimersByTime(5000);
    expect(calls).toEqual(["enter alice/tab-1"]);
    next();
    vi.advanceTimersByTime(1000);
    expect(calls).toEqual(["enter alice/tab-1", "leave alice/tab-1 closed"]);
    expect(presence.size).toBe(0);
    presence.hold(reader())();
    expect(calls.at(-1)).toBe("enter alice/tab-1");
  });

  test("each entry gets a connection id of its own, never reused", () => {
    vi.useFakeTimers();
    const connections: string[] = [];
    const { writer } = recordingWriter();
    const enter = writer.enter.bind(writer);
    writer.enter = (c) => {
      connections.push(c.connection);
      enter(c);
    };
    const presence = new HttpPresence(writer, 10);
    presence.hold(reader("a"))();
    presence.hold(reader("b"));
    vi.advanceTimersByTime(10);
    presence.hold(reader("a"));
    expect(new Set(connections).size).toBe(3);
    for (const c of connections) expect(c).toMatch(/^http-[A-Za-z0-9_-]+$/);
  });

  test("a status update reaches the device's entry; a device without a live read gets false", () => {
    const { writer, calls } = recordingWriter();
    const presence = new HttpPresence(writer, 1000);
    presence.hold(reader());
    expect(presence.update(reader(), "typing", undefined)).toBe(true);
    expect(presence.update(reader("other"), "typing", undefined)).toBe(false);
    expect(calls).toEqual(["enter alice/tab-1", "update alice/tab-1 typing"]);
    presence.close();
    expect(calls.at(-1)).toBe("leave alice/tab-1 closed");
  });
});
