import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { ConsumerPulls, deliveryInfo } from "./consumer-pulls.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const nats = useProvisionedNats();

describe("deliveryInfo", () => {
  it.each([
    ["$JS.ACK.THREADLINE.c1.1.42.7.1700000000123456789.3", { seq: 42, storedAt: 1700000000123 }],
    ["$JS.ACK.hub.ACCHASH.THREADLINE.c1.1.42.7.1700000000123456789.3", { seq: 42, storedAt: 1700000000123 }],
    ["$JS.ACK.hub.ACCHASH.THREADLINE.c1.1.42.7.1700000000123456789.3.rand", { seq: 42, storedAt: 1700000000123 }],
    ["$JS.ACK.THREADLINE.c1.1.x.7.1.3", undefined],
    ["_INBOX.abc", undefined],
    [undefined, undefined],
  ])("%s → %j", (reply, info) => {
    expect(deliveryInfo(reply)).toEqual(info);
  });
});

describe("ConsumerPulls on nats-server", () => {
  async function consumerOn(filter: string) {
    const jsm = await jetstreamManager(nats.nc);
    const ci = await jsm.consumers.add(nats.info.stream, {
      filter_subject: filter,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      deliver_policy: DeliverPolicy.All,
    });
    return new ConsumerPulls(jetstream(nats.nc), nats.info.stream, ci.name, `reading ${filter}`);
  }

  it("delivers pulls in seq order over one subscription, with the store's seq and time", async () => {
    const js = jetstream(nats.nc);
    const acks = [];
    for (let i = 0; i < 7; i++) acks.push(await js.publish("tl.pulls.out.agent.bot", Uint8Array.of(i)));
    const pulls = await consumerOn("tl.pulls.>");
    const first = await pulls.pull(3, 5_000);
    const second = await pulls.pull(4, 5_000);
    pulls.close();
    expect([first.endedBy, second.endedBy]).toEqual([undefined, undefined]);
    expect([...first.messages, ...second.messages].map((m) => m.seq)).toEqual(acks.map((a) => a.seq));
    expect(second.messages.map((m) => m.data[0])).toEqual([3, 4, 5, 6]);
    expect(Math.abs(first.messages[0]!.storedAt - Date.now())).toBeLessThan(60_000);
  });

  // The pull's expiry (60 s) is far past the test's timeout: this passes only if the server ends it at once.
  it("a pull asking more than is stored ends at once with what there is (no_wait)", async () => {
    const js = jetstream(nats.nc);
    await js.publish("tl.pulls2.out.agent.bot", Uint8Array.of(1));
    const pulls = await consumerOn("tl.pulls2.>");
    const got = await pulls.pull(5, 60_000);
    pulls.close();
    expect(got.messages.map((m) => m.data[0])).toEqual([1]);
    expect([404, 408]).toContain(got.endedBy);
  }, 10_000);

  it("one pull at a time; close rejects the pull in flight", async () => {
    const pulls = await consumerOn("tl.pulls3.>");
    // Synchronous: no answer can arrive in between.
    const waiting = pulls.pull(1, 5_000);
    const second = pulls.pull(1, 5_000);
    pulls.close();
    await expect(second).rejects.toThrow(/one pull at a time/);
    await expect(waiting).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});
