import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { currentEntries, listKeys, storedKeys } from "./kv-json.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const nats = useProvisionedNats();

describe("bucket keys without a consumer (storedKeys, currentEntries, listKeys)", () => {
  it("lists the keys with a message under a filter; entries and listKeys keep the current values only", async () => {
    const kv = await new Kvm(jetstream(nats.nc)).create("keys-probe", { history: 1 });
    await kv.put("s1.user.ann.c1", "{}");
    await kv.put("s1.user.bob.c2", "{}");
    await kv.put("s1.user.bob.c2", '{"again":true}');
    await kv.put("s2.user.cy.c3", "{}");
    await kv.put("s1.user.dan.c4", "{}");
    await kv.delete("s1.user.dan.c4");
    await kv.put("s1.user.eve.c5", "{}");
    await kv.purge("s1.user.eve.c5");

    // A delete or purge leaves a marker: the key is stored, without a value.
    expect((await storedKeys(kv, "s1.>", "probe")).sort()).toEqual([
      "s1.user.ann.c1",
      "s1.user.bob.c2",
      "s1.user.dan.c4",
      "s1.user.eve.c5",
    ]);
    expect((await listKeys(kv, "s1.>", "probe")).sort()).toEqual(["s1.user.ann.c1", "s1.user.bob.c2"]);
    const entries = await currentEntries(kv, "s1.user.bob.*", "probe");
    expect(entries.map((e) => [e.key, e.string()])).toEqual([["s1.user.bob.c2", '{"again":true}']]);
    expect(await storedKeys(kv, "nobody.>", "probe")).toEqual([]);
    expect((await storedKeys(kv, ">", "probe")).length).toBe(5);
  });
});
