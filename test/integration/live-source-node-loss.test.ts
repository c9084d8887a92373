import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectAgent } from "@threadline/agent";
import { Subjects } from "@threadline/protocol";
import { createHistoryReader, provisionThreadline } from "@threadline/store";
import { type NatsServer, startCluster, waitFor } from "@threadline/test-kit";
import { expect, onTestFailed, onTestFinished, test } from "vitest";
import { FirehoseSource, LIVE_HEARTBEAT_MS, LIVE_SILENCE_MS } from "../../services/gateway/src/live-source.ts";
import { createMetrics } from "../../services/gateway/src/metrics.ts";
import { sessionHistory } from "../../services/gateway/src/session-history.ts";

// Regression (chaos suite, NATS node kill): the gateway's firehose ordered
// consumer is an R1 consumer on one node. When that node died while the
// gateway stayed connected to another one, nats.js only noticed after two
// missed 15 s heartbeats and then kept asking the dead node for consumer
// info (30 s backoff) instead of recreating the consumer: live feeds stayed
// silent until the node came back. The source now asks for 1 s idle
// heartbeats, and after 3 s without a message or heartbeat recreates its
// consumer elsewhere from the last delivered seq.

test("the live source recreates its consumer when the node hosting it dies", async () => {
  const cluster = await startCluster(3);
  onTestFinished(() => cluster.stop());
  const setup = await connect({ servers: cluster.urls });
  onTestFinished(() => setup.close());
  const info = await provisionThreadline(setup, { replicas: 3 });
  const agent = await connectAgent({ servers: cluster.urls, id: "writer", provision: false });
  onTestFinished(() => agent.close());
  const subjects = new Subjects();

  // Connect the source to a node that does not host its consumer, so only the consumer is lost.
  let nc: NatsConnection | undefined;
  let source: FirehoseSource | undefined;
  let host: NatsServer | undefined;
  const received: number[] = [];
  const metrics = createMetrics();
  /** The live source's re-syncs so far, one reason per re-sync. */
  const resyncs = async (): Promise<string[]> =>
    (await metrics.liveResyncs.get()).values.flatMap((v) => Array<string>(v.value).fill(String(v.labels.reason)));
  // Placement is the server's choice: try connections to each node in turn until one fits.
  for (let attempt = 0; attempt < 12 && !host; attempt++) {
    const server = cluster.servers[attempt % cluster.servers.length]!;
    const conn = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const js = jetstream(conn);
    const history = sessionHistory(
      createHistoryReader(js, await jetstreamManager(conn), { stream: info.stream }),
      subjects,
    );
    const jsm = await jetstreamManager(conn);
    // Consumers of closed candidates linger (inactive threshold): find the one this candidate created.
    const before = new Set((await jsm.consumers.list(info.stream).next()).map((c) => c.name));
    const candidate = new FirehoseSource(js, info.stream, subjects.all(), history, metrics);
    await candidate.open("s1", (m) => received.push(m.seq));
    const consumer = (await jsm.consumers.list(info.stream).next()).find((c) => !before.has(c.name));
    const leader = consumer?.cluster?.leader;
    if (leader && leader !== server.name) {
      nc = conn;
      source = candidate;
      host = cluster.servers.find((s) => s.name === leader);
      continue;
    }
    candidate.close();
    await conn.close();
  }
  expect(host, "a node other than the consumer's host").toBeDefined();
  onTestFinished(async () => {
    source?.close();
    await nc?.close();
  });
  onTestFailed(() => console.error(host?.log().slice(-4000)));

  const publish = async (n: number) => {
    for (;;) {
      try {
        return (await agent.publish("s1", { id: `e${n}`, type: "note", data: { n } })).seq;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const seqs = [await publish(0)];
  await waitFor(() => received.length === 1);
  // An idle consumer gets the server's idle heartbeats: no resync while nothing happens.
  await new Promise((r) => setTimeout(r, LIVE_SILENCE_MS + 2 * LIVE_HEARTBEAT_MS));
  expect(await resyncs()).toEqual([]);
  await host!.kill("SIGKILL");
  for (let n = 1; n <= 20; n++) seqs.push(await publish(n));
  // Without the fix nothing arrives before the node returns, and it never does here. With it: 3 s of
  // silence, then a try per second, each up to the 5 s API timeout while the cluster elects leaders
  // (slower on a loaded machine).
  await waitFor(() => received.length >= seqs.length, {
    timeoutMs: 45_000,
    message: () => `received ${received.length} of ${seqs.length}`,
  });
  expect(received).toEqual(seqs);
  // Recovered by the source's watchdog, or by nats.js itself when the server reports the loss in time.
  const recoveries = (await resyncs()).filter((r) => r === "heartbeats-missed" || r === "consumer-recreated");
  expect(recoveries.length).toBeGreaterThan(0);
}, 90_000);
