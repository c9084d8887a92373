import type { ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { memoryStorage } from "./position-storage.ts";
import { appliedSeq, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

describe("attachments that cannot continue", () => {
  it("INSUFFICIENT_STATE on a re-attach surfaces via onError, detaches and is not retried", async () => {
    const gw = await FakeGateway.start();
    const storage = memoryStorage();
    const { client } = testClient(gw.url, { storage });
    const attaching = client.attach("s1");
    const conn1 = await gw.nextConnection();
    await conn1.welcome();
    await conn1.attached("e1", 0);
    const handle = await attaching;
    const errors: ThreadlineError[] = [];
    handle.onError((e) => errors.push(e));
    const iterator = handle.events()[Symbol.asyncIterator]();
    conn1.events("s1", 4);
    expect((await iterator.next()).value?.seq).toBe(4);

    conn1.terminate();
    const conn2 = await gw.nextConnection();
    await conn2.welcome();
    const reattach = await conn2.take("attach");
    expect(reattach.from).toEqual({ epoch: "e1", seq: 4, id: "ev-4" });
    conn2.send({
      op: "error",
      rid: reattach.rid,
      session: "s1",
      code: "INSUFFICIENT_STATE",
      message: "epoch changed",
      retryable: false,
    });
    await expect(iterator.next()).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    expect(errors.map((e) => [e.code, e.session])).toEqual([["INSUFFICIENT_STATE", "s1"]]);
    await expect(handle.whenSynced()).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    expect(await storage.get("s1")).toBeUndefined();

    // Not re-attached on the next socket: the first attach there is the app's new one, from "start".
    conn2.terminate();
    const conn3 = await gw.nextConnection();
    await conn3.welcome();
    const again = client.attach("s1", { from: "start" });
    expect((await conn3.attached("e2", 0)).from).toBe("start");
    await again;
    expect(conn3.all("attach")).toHaveLength(1);
  });

  it("a first attach from an unusable stored position rejects with INSUFFICIENT_STATE and forgets it", async () => {
    const gw = await FakeGateway.start();
    const storage = memoryStorage();
    storage.set("s1", { epoch: "old", seq: 10 });
    const { client } = testClient(gw.url, { storage });
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    const attach = await conn.take("attach");
    expect(attach.from).toEqual({ epoch: "old", seq: 10 });
    conn.send({
      op: "error",
      rid: attach.rid,
      session: "s1",
      code: "INSUFFICIENT_STATE",
      message: "x",
      retryable: false,
    });
    await expect(attaching).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    expect(await storage.get("s1")).toBeUndefined();
  });

  it("an INSUFFICIENT_STATE error frame without rid ends the attachment", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    await conn.attached("e1", 0);
    const handle = await attaching;
    const failed = new Promise<ThreadlineError>((resolve) => handle.onError(resolve));
    conn.send({
      op: "error",
      session: "s1",
      code: "INSUFFICIENT_STATE",
      message: "stream recreated",
      retryable: false,
    });
    expect((await failed).code).toBe("INSUFFICIENT_STATE");
    await expect(handle.publish({ type: "input" })).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
    // The session can be attached again (the old handle is gone).
    const again = client.attach("s1", { from: "start" });
    await conn.attached("e2", 0);
    await expect(again).resolves.toBeDefined();
  });

  it("a gateway-ended attachment (detached without rid, not retryable) surfaces via onError", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    await conn.attached("e1", 0);
    const handle = await attaching;
    const failed = new Promise<ThreadlineError>((resolve) => handle.onError(resolve));
    conn.send({ op: "detached", session: "s1", code: "INSUFFICIENT_STATE", message: "recreated", retryable: false });
    expect(await failed).toMatchObject({ code: "INSUFFICIENT_STATE", retryable: false });
    const iterator = handle.events()[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });
  });

  it("a gateway-ended attachment with retryable: true is re-attached from the position (PROTOCOL.md §8.4)", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    await conn.attached("e1", 0);
    const handle = await attaching;
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
