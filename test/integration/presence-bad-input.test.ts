import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { presenceEventLog, startPresence } from "./support/presence.ts";

test("invalid presence keys and values are ignored and counted; valid entries around them still work", async () => {
  const nats = await startNatsServer();
  onTestFinished(() => nats.stop());
  const presence = await startPresence(nats);
  onTestFinished(() => presence.close());
  const log = presenceEventLog(presence.nc, "bad");
  onTestFinished(() => log.stop());
  const nc = await connect({ servers: nats.url });
  onTestFinished(() => nc.close());
  const kv = await new Kvm(nc).open("threadline-presence");

  const valid = { kind: "user", id: "u1", connection: "c1", status: "active", since: 1, heartbeatMs: 60_000 };
  await kv.put("bad.user.u1", JSON.stringify(valid)); // key has three tokens
  await kv.put("bad.system.u1.c1", JSON.stringify({ ...valid, kind: "system" })); // system is never present
  await kv.put("bad.user.u1.c1", "{not json");
  await kv.put("bad.user.u1.c2", JSON.stringify({ ...valid, connection: "c2", id: "someone-else" }));
  await kv.put("bad.user.u1.c3", JSON.stringify({ ...valid, connection: "c3", metadata: { x: "y".repeat(5000) } }));
  await kv.put("bad.user.u1.c4", JSON.stringify({ ...valid, connection: "c4", status: 42 }));
  await kv.put("bad.user.u2.c1", JSON.stringify({ ...valid, id: "u2" }));

  const join = await log.next((e) => e.type === "presence.join");
  expect(join.data?.id).toBe("u2");
  await waitFor(async () => {
    const values = (await presence.service.metrics.invalidEntries.get()).values;
    return values.reduce((n, v) => n + v.value, 0) === 6;
  });
  expect(presence.service.members("bad").map((m) => m.id)).toEqual(["u2"]);
  expect(log.events).toHaveLength(1);
});
