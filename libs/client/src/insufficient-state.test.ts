import type { ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { memoryStorage } from "./position-storage.ts";
import { attachedSession, pendingAttach } from "./test-support/attached-session.ts";
import { appliedSeq } from "./test-support/client-fixture.ts";

describe("attachments that cannot continue", () => {
  it("INSUFFICIENT_STATE on a re-attach surfaces via onError, detaches and is not retried", async () => {
    const storage = memoryStorage();
    const { gw, client, conn: conn1, handle } = await attachedSession({ client: { storage } });
    const errors: ThreadlineError[] = [];
    handle.onError((e) => errors.push(e));
    const iterator = handle.events()[Symbol.asyncIterator]();
    conn1.events("s1", 4);
    expect((await iterator.next()).value?.seq).toBe(4);

    conn1.terminate();
    const conn2 = await gw.nextWelcomed();
    const reattach = await conn2.take("attach");
    expect(reattach.from).toEqual({ epoch: "e1", seq: 4, id: "ev-4" });
    conn2.error(reattach, "INSUFFICIENT_STATE", "epoch changed");
    await expect(iterator.next()).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    expect(errors.map((e) => [e.code, e.session])).toEqual([["INSUFFICIENT_STATE", "s1"]]);
    await expect(handle.whenSynced()).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    expect(await storage.get("s1")).toBeUndefined();

    // Not re-attached on the next socket: the first attach there is the app's new one, from "start".
    conn2.terminate();
    const conn3 = await gw.nextWelcomed();
    const again = client.attach("s1", { from: "start" });
    expect((await conn3.attached("e2", 0)).from).toBe("start");
    await again;
    expect(conn3.all("attach")).toHaveLength(1);
  });

  it("a first attach from an unusable stored position rejects with INSUFFICIENT_STATE and forgets it", async () => {
    const storage = memoryStorage();
    storage.set("s1", { epoch: "old", seq: 10 });
    const { conn, attaching } = await pendingAttach({ client: { storage } });
    const attach = await conn.take("attach");
    expect(attach.from).toEqual({ epoch: "old", seq: 10 });
    conn.error(attach, "INSUFFICIENT_STATE", "x");
    await expect(attaching).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    expect(await storage.get("s1")).toBeUndefined();
  });

  it("an INSUFFICIENT_STATE error frame without rid ends the attachment", async () => {
    const { client, conn, handle } = await attachedSession();
    const failed = new Promise<ThreadlineError>((resolve) => handle.onError(resolve));
    conn.error({ session: "s1" }, "INSUFFICIENT_STATE", "stream recreated");
    expect((await failed).code).toBe("INSUFFICIENT_STATE");
    await expect(handle.publish({ type: "input" })).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    // The session can be attached again (the old handle is gone).
    const again = client.attach("s1", { from: "start" });
    await conn.attached("e2", 0);
    await expect(again).resolves.toBeDefined();
  });

  it("a gateway-ended attachment (detached without rid, not retryable) surfaces via onError", async () => {
    const { conn, handle } = await attachedSession();
    const failed = new Promise<ThreadlineError>((resolve) => handle.onError(resolve));
    conn.send({ op: "detached", session: "s1", code: "INSUFFICIENT_STATE", message: "recreated", retryable: false });
    expect(await failed).toMatchObject({ code: "INSUFFICIENT_STATE", retryable: false });
    const iterator = handle.events()[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
  });

  it("a gateway-ended attachment with retryable: true is re-attached from the position (PROTOCOL.md §8.4)", async () => {
    const { conn, handle } = await attachedSession();
    const errors: ThreadlineError[] = [];
    handle.onError((e) => errors.push(e));
    conn.events("s1", 6);
    await appliedSeq(handle, 6);
    conn.send({ op: "detached", session: "s1", code: "UNAVAILABLE", message: "history unreadable", retryable: true });
    const reattach = await conn.attached("e1", 6);
    expect(reattach.from).toEqual({ epoch: "e1", seq: 6, id: "ev-6" });
    conn.events("s1", 6, 8);
    conn.synced("s1", 8);
    await handle.whenSynced();
    expect(handle.position).toEqual({ epoch: "e1", seq: 8, id: "ev-8" });
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([["UNAVAILABLE", true]]);
  });
});
