import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { connectAgent } from "@threadline/agent";
import { type PresenceEntry, presenceKey } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { startPresence } from "./support/presence.ts";

test("1,000 participants over 100 sessions: the service's views and the stored events are correct", async () => {
  const nats = await startNatsServer();
  onTestFinished(() => nats.stop());
  const presence = await startPresence(nats);
  onTestFinished(() => presence.close());
  const nc = await connect({ servers: nats.url });
  onTestFinished(() => nc.close());
  const kv = await new Kvm(nc).open("threadline-presence");

  // 10 users per session; every third user holds a second device.
  const expected = new Map<string, Map<string, number>>();
  const writes: Promise<unknown>[] = [];
  for (let s = 0; s < 100; s++) {
    const session = `scale-${s}`;
    const users = new Map<string, number>();
    expected.set(session, users);
    for (let u = 0; u < 10; u++) {
      const id = `u${s}-${u}`;
      const devices = u % 3 === 0 ? 2 : 1;
      users.set(id, devices);
      for (let d = 0; d < devices; d++) {
        const entry: PresenceEntry = {
          kind: "user",
          id,
          device: `d${d}`,
          connection: `${id}-c${d}`,
          status: "active",
          since: Date.now(),
          heartbeatMs: 60_000,
        };
        writes.push(kv.put(presenceKey(session, "user", id, entry.connection), JSON.stringify(entry)));
      }
    }
  }
  await Promise.all(writes);
  // Then the first three users of every session leave (all their devices).
  const leaves: Promise<unknown>[] = [];
  for (const [session, users] of expected) {
    for (const [id, devices] of [...users].slice(0, 3)) {
      for (let d = 0; d < devices; d++) {
        const key = presenceKey(session, "user", id, `${id}-c${d}`);
        const entry = (await kv.get(key))?.json<PresenceEntry>();
        leaves.push(kv.put(key, JSON.stringify({ ...entry, gone: "left" })));
      }
      users.delete(id);
    }
  }
  await Promise.all(leaves);

  await waitFor(() => presence.service.connections === 700 + countExtraDevices(expected), { timeoutMs: 20_000 });
  for (const [session, users] of expected) {
    const members = presence.service.members(session);
    expect(new Map(members.map((m) => [m.id, m.devices.length]))).toEqual(users);
  }

  // Every session's stored events replay to the same member set: 10 joins, the device updates, 3 leaves.
  const agent = await connectAgent({ servers: nats.url, id: "checker" });
  onTestFinished(() => agent.close());
  // Per session: 10 joins, 4 second-device updates (u0, u3, u6, u9), 1 device-removal update (u0) and 3 leaves.
  await waitFor(
    async () => {
      const values = (await presence.service.metrics.events.get()).values;
      return values.reduce((n, v) => n + (v.labels.result === "stored" ? v.value : 0), 0) === 100 * 18;
    },
    { timeoutMs: 20_000 },
  );
  for (const [session, users] of expected) {
    const members = new Map<string, number>();
    for await (const r of agent.history(session)) {
      const data = r.event.data as { id: string; devices: unknown[] };
      if (r.event.type === "presence.leave") members.delete(data.id);
      else members.set(data.id, data.devices.length);
    }
    expect(members).toEqual(users);
  }
});

function countExtraDevices(expected: Map<string, Map<string, number>>): number {
  let extra = 0;
  for (const users of expected.values()) for (const devices of users.values()) extra += devices - 1;
  return extra;
}
