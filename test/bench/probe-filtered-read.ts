import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { encodeMsgpack } from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";

/**
 * Probe (not a scenario): how long nats-server takes to replay one session
 * through a filtered pull consumer starting mid-stream (what the gateway's
 * history reader does on resume), without the gateway. It stores 10,000
 * events of session `s1` with `noise` events of other sessions interleaved
 * per 100, then reads `tl.s1.>` from 0 %, 25 %, 50 %, 75 % and 90 % of the
 * session with fetches of 256 (the gateway's batch) and prints the times.
 *
 *   node --import tsx test/bench/probe-filtered-read.ts [noise=25] [file|memory]
 *
 * Measured on the 2-core machine with nats-server 2.9.10 (see RESULTS.md).
 */
const noise = Number(process.argv[2] ?? 25);
const storage = process.argv[3] === "memory" ? "memory" : "file";
const EVENTS = 10_000;

const nats = await startNatsServer();
try {
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PROBE", subjects: ["tl.>"], storage: storage as never });
  const js = jetstream(nc);
  const seqs: number[] = [];
  let batch: Promise<unknown>[] = [];
  let owed = 0;
  for (let n = 0; n < EVENTS; n++) {
    const payload = encodeMsgpack({ id: `e${n}`, data: { delta: `token ${n} of a streamed reply `, n } });
    batch.push(js.publish("tl.s1.out.agent.probe", payload).then((ack) => seqs.push(ack.seq)));
    for (owed += noise / 100; owed >= 1; owed--) batch.push(js.publish(`tl.other${n % 50}.out.agent.probe`, payload));
    if (batch.length >= 512) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  seqs.sort((a, b) => a - b);
  const results: Record<string, string> = {};
  for (const fraction of [0, 0.25, 0.5, 0.75, 0.9]) {
    const start = fraction === 0 ? 1 : seqs[Math.floor(fraction * seqs.length)]!;
    const t0 = performance.now();
    const info = await jsm.consumers.add("PROBE", {
      filter_subject: "tl.s1.>",
      ack_policy: AckPolicy.None,
      mem_storage: true,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    let remaining = info.num_pending;
    const consumer = js.consumers.getConsumerFromInfo(info);
    while (remaining > 0) {
      const messages = await consumer.fetch({ max_messages: Math.min(remaining, 256), expires: 5_000 });
      for await (const _ of messages) if (--remaining === 0) break;
    }
    await jsm.consumers.delete("PROBE", info.name);
    results[`from ${fraction * 100}%`] = `${info.num_pending} events in ${Math.round(performance.now() - t0)} ms`;
  }
  const state = (await jsm.streams.info("PROBE")).state;
  console.log(JSON.stringify({ noise, storage, streamMessages: state.messages, reads: results }));
  await nc.close();
} finally {
  await nats.stop();
}
