import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { dedupeKey, encodeMsgpack, newId } from "@threadline/protocol";
import { JsPublisher, provisionThreadline, type StreamPublisher } from "@threadline/store";
import { startNatsServer } from "@threadline/test-kit";
import { round } from "./stats.ts";

/**
 * Probe (not a scenario): the publishing process's CPU per JetStream publish,
 * nats.js `js.publish()` against the store's `JsPublisher`, on one
 * nats-server (file storage). Each round publishes `count` msgpack events with
 * the agent's headers (`Nats-Msg-Id`, `Nats-Expected-Stream`) over 1000
 * sessions, `window` in flight, and reads this process's CPU time
 * (`process.cpuUsage`, user + system; nats-server is another process). The
 * two alternate for `rounds` rounds so machine load hits both alike.
 *
 *   node --import tsx test/bench/probe-publish-cost.ts [count=20000] [window=200] [rounds=3]
 */
const [count = 20_000, window = 200, rounds = 3] = process.argv.slice(2).map(Number);

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
const info = await provisionThreadline(nc);
const js = jetstream(nc);
const viaJs: StreamPublisher = {
  publish: (subject, payload, o = {}) =>
    js.publish(subject, payload, {
      ...(o.msgId === undefined ? {} : { msgID: o.msgId }),
      ...(o.expectStream === undefined ? {} : { expect: { streamName: o.expectStream } }),
      timeout: 5000,
    }),
};
const viaPublisher = new JsPublisher(nc);

async function round1(publisher: StreamPublisher): Promise<{ usPerPublish: number; perSecond: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const session = `s${next++ % 1000}`;
      const id = newId();
      const payload = encodeMsgpack({ id, type: "probe", from: { kind: "agent", id: "p" }, ts: Date.now(), data: {} });
      await publisher.publish(info.subjects.event(session, "out", "agent", "p"), payload, {
        msgId: dedupeKey(session, id),
        expectStream: info.stream,
      });
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const used = process.cpuUsage(cpu);
  const elapsed = performance.now() - started;
  return { usPerPublish: (used.user + used.system) / count, perSecond: (count / elapsed) * 1000 };
}

try {
  await round1(viaJs); // warm-up: JIT, the stream's first blocks
  await round1(viaPublisher);
  const rows: string[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const [name, publisher] of [
      ["js.publish", viaJs],
      ["JsPublisher", viaPublisher],
    ] as const) {
      const { usPerPublish, perSecond } = await round1(publisher);
      rows.push(
        `${r}  ${name.padEnd(12)} ${String(round(usPerPublish)).padStart(7)} µs CPU/publish  ${round(perSecond)} publishes/s`,
      );
    }
  }
  console.log(`count ${count}, window ${window}, load ${(await import("node:os")).loadavg()[0]?.toFixed(2)}`);
  console.log(rows.join("\n"));
} finally {
  viaPublisher.close();
  await nc.close();
  await server.stop();
}
