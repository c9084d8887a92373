import { Kvm } from "@nats-io/kv";
import { PresenceBucket } from "@threadline/store";
import { waitFor } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { testStack } from "./support/stack.ts";

// A user with a device attached sees the session live: nothing is notified. The same user away again is
// notified of the next trigger.
describe("notifier: user present", () => {
  it("a real gateway socket attached → no notification; after it closed → notified", async () => {
    const stack = await testStack();
    const rig = await notifierRig({ nats: stack.nats });
    const { log } = await startNotifier(rig);
    await rig.subscribe("dan");
    const presence = new PresenceBucket(await new Kvm(stack.nc).open("threadline-presence"), stack.nc);
    const danPresent = async () =>
      (await presence.members("present-1")).some((m) => m.kind === "user" && m.id === "dan");

    const socket = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "dan" }), { device: "tab1" });
    onTestFinished(() => socket.close());
    expect(await socket.request({ op: "attach", session: "present-1", from: "start" })).toMatchObject({
      op: "attached",
    });
    const input = { id: "q1", type: "input", data: { text: "Where is my order?" } };
    expect(await socket.request({ op: "publish", session: "present-1", event: input })).toMatchObject({
      op: "published",
    });
    // The gateway writes the socket's presence entry after the attach: no event tells the test when.
    await waitFor(danPresent, { timeoutMs: 20_000 });

    const seen = await rig.turnEnd("present-1", "It ships Monday.");
    expect(await log.next((o) => o.seq === seen.seq && o.user === "dan", 30_000)).toMatchObject({
      outcome: "skipped",
      reason: "present",
    });

    await socket.close();
    await waitFor(async () => !(await danPresent()), { timeoutMs: 20_000 });
    const missed = await rig.turnEnd("present-1", "Also: it is gift-wrapped.");
    const pushed = await rig.push.next(undefined, 30_000);
    expect(pushed.json).toMatchObject({
      user: "dan",
      position: { seq: missed.seq },
      count: 1,
      body: "Also: it is gift-wrapped.",
    });
    await rig.settled();
    expect(rig.push.received()).toHaveLength(1);
    expect(rig.hooks.received()).toHaveLength(1);
  });

  it("present when the trigger is first seen, gone before it is due → none (they saw it live)", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig, { THREADLINE_NOTIFY_DELAY_MS: "1000" });
    await rig.subscribe("eve");
    await rig.userWrites("present-2", "eve");
    const leave = await rig.present("present-2", "eve");
    const end = await rig.turnEnd("present-2");
    expect(await log.next((o) => o.seq === end.seq && o.user === "eve")).toMatchObject({
      outcome: "skipped",
      reason: "present",
    });
    await leave();
    await rig.settled();
    expect(rig.push.received()).toEqual([]);
    expect(rig.hooks.received()).toEqual([]);
  });

  it("only the absent user of a session is notified", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig);
    for (const user of ["fay", "gus"]) {
      await rig.subscribe(user);
      await rig.userWrites("present-3", user);
    }
    await rig.present("present-3", "fay");
    const end = await rig.turnEnd("present-3");
    const pushed = await rig.push.next(undefined, 10_000);
    expect(pushed.json).toMatchObject({ user: "gus", position: { seq: end.seq } });
    await rig.settled();
    expect(rig.push.received()).toHaveLength(1);
    // fay: skipped as present when first seen; when due, her burst mark already covers it
    expect(log.events.filter((o) => o.user === "fay").map((o) => o.reason ?? o.outcome)).toEqual([
      "present",
      "covered",
    ]);
  });
});
