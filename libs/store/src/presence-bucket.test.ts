import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { DEFAULT_PRESENCE_BUCKET, ErrorCode, type PresenceEntry, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { PresenceBucket } from "./presence-bucket.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const nats = useProvisionedNats();

const entry = (n: number, gone?: "left"): PresenceEntry => ({
  kind: "user",
  id: "ann",
  device: "phone",
  connection: "c1",
  status: "online",
  heartbeatMs: 2000,
  since: 1_700_000_000_000,
  metadata: { n },
  ...(gone ? { gone } : {}),
});

describe("PresenceBucket.write", () => {
  it("stores the entry under the key, as kv.put would, stamped with the connection's NATS identity", async () => {
    const kv = await new Kvm(jetstream(nats.nc)).open(DEFAULT_PRESENCE_BUCKET);
    const bucket = new PresenceBucket(kv, nats.nc);
    await bucket.write("s1.user.ann.c1", entry(1));
    const stored = await kv.get("s1.user.ann.c1");
    expect(stored?.operation).toBe("PUT");
    expect(stored?.json()).toEqual({
      ...entry(1),
      nats: {
        clientId: nats.nc.info?.client_id,
        serverId: nats.nc.info?.server_id,
        serverName: nats.nc.info?.server_name,
      },
    });
  });

  it("keeps one key's writes in call order: a tombstone written last is what stays", async () => {
    const kv = await new Kvm(jetstream(nats.nc)).open(DEFAULT_PRESENCE_BUCKET);
    const bucket = new PresenceBucket(kv, nats.nc);
    const writes = Array.from({ length: 30 }, (_, n) => bucket.write("s2.user.ann.c1", entry(n)));
    writes.push(bucket.write("s2.user.ann.c1", entry(30, "left")));
    await Promise.all(writes);
    const stored = (await kv.get("s2.user.ann.c1"))?.json<PresenceEntry>();
    expect(stored?.gone).toBe("left");
    expect(stored?.metadata).toEqual({ n: 30 });
  });

  it("rejects a key the bucket cannot hold with a typed error, and later writes still go through", async () => {
    const kv = await new Kvm(jetstream(nats.nc)).open(DEFAULT_PRESENCE_BUCKET);
    const bucket = new PresenceBucket(kv, nats.nc);
    const failed = await bucket.write("s3.user.ann c1", entry(1)).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(ThreadlineError);
    expect((failed as ThreadlineError).message).toContain("s3.user.ann c1");
    await bucket.write("s3.user.ann.c1", entry(2));
    expect((await kv.get("s3.user.ann.c1"))?.json<PresenceEntry>().metadata).toEqual({ n: 2 });
    // Not a NATS outage: a write that cannot succeed, so not retryable.
    expect([(failed as ThreadlineError).code, (failed as ThreadlineError).retryable]).toEqual([
      ErrorCode.INTERNAL,
      false,
    ]);
  });
});
