import { describe, expect, it } from "vitest";
import { memoryStorage } from "./position-storage.ts";
import { attachedSession, pendingAttach } from "./test-support/attached-session.ts";
import { recordSeqs, statusOf, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

/** A memory storage holding position e1/7 for s1. */
function storageAt7() {
  const storage = memoryStorage();
  storage.set("s1", { epoch: "e1", seq: 7 });
  return storage;
}

describe("hello / welcome / attach handshake", () => {
  it("connects lazily, sends hello first in a binary frame, then attaches after welcome", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    expect(client.status).toEqual({ type: "idle" });
    expect(gw.connections).toHaveLength(0);

    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    expect(conn.protocol).toBe("threadline.v1");
    const hello = await conn.welcome({ user: "alice" });
    expect(hello).toEqual({ op: "hello", token: "tok", device: "dev-1", accept: ["events"] });

    const attach = await conn.take("attach");
    // No `from`: the device cursor; no local state for it yet, so a state snapshot is asked for (PROTOCOL.md §19.5).
    expect(attach).toEqual({ op: "attach", rid: attach.rid, session: "s1", state: true });
    expect(conn.received[0]?.frame.op).toBe("hello");
    expect(conn.received.every((r) => r.binary)).toBe(true);

    // attached, events and synced in one burst: `ws` may deliver them all in one tick.
    conn.answerAttach(attach, "e1", 0);
    conn.events("s1", 3, 5);
    conn.synced("s1", 5);
    const handle = await attaching;
    // Regression: subscribing right after `await attach()` must still see the replay.
    const seqs = recordSeqs(handle);
    await handle.whenSynced();

    expect(seqs).toEqual([3, 5]);
    expect(handle.position).toEqual({ epoch: "e1", seq: 5, id: "ev-5" });
    expect(handle.synced).toBe(true);
    expect(await statusOf(client, "connected")).toMatchObject({ user: "alice", device: "dev-1" });
  });

  it("resumes the first attach from the position in storage and drops events at or below it", async () => {
    const { conn, attach, handle } = await attachedSession({ client: { storage: storageAt7() }, from: 7 });
    expect(attach.from).toEqual({ epoch: "e1", seq: 7 });
    expect(handle.position).toEqual({ epoch: "e1", seq: 7 });
    const seqs = recordSeqs(handle);
    conn.events("s1", 6, 7, 8);
    conn.synced("s1", 8);
    await handle.whenSynced();
    expect(seqs).toEqual([8]);
  });

  it("sends an explicit from as given, and writes the applied position to storage on detach", async () => {
    const storage = storageAt7();
    const { conn, attach, handle } = await attachedSession({ client: { storage }, attach: { from: "start" } });
    expect(attach.from).toBe("start");
    const seqs = recordSeqs(handle);
    conn.events("s1", 2, 4);
    conn.synced("s1", 4);
    await handle.whenSynced();
    expect(seqs).toEqual([2, 4]);

    const detaching = handle.detach();
    const detach = await conn.take("detach");
    conn.send({ op: "detached", rid: detach.rid, session: "s1" });
    await detaching;
    expect(await storage.get("s1")).toEqual({ epoch: "e1", seq: 4, id: "ev-4" });
  });

  it("rejects a second attach of a live session and invalid session ids", async () => {
    const { client } = await attachedSession();
    // Issue 14: a duplicate attach was INVALID_FRAME, a code PROTOCOL.md gives malformed frames.
    await expect(client.attach("s1")).rejects.toMatchObject({ code: "ALREADY_ATTACHED", retryable: false });
    await expect(client.attach("bad id!")).rejects.toMatchObject({ code: "INVALID_SESSION" });
  });

  it("rejects attach with the gateway's error", async () => {
    const { conn, attaching } = await pendingAttach();
    conn.error(await conn.take("attach"), "FORBIDDEN", "no");
    await expect(attaching).rejects.toMatchObject({ code: "FORBIDDEN", session: "s1" });
  });
});
