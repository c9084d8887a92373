import { Writable } from "node:stream";
import { connect } from "@nats-io/transport-node";
import { createGateway } from "@threadline/gateway";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { pino } from "pino";
import { afterAll, expect, it, onTestFinished } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { testGatewayConfig } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

// The gateway's logs are JSON lines that name the session, turn and event they concern.
const nats = await startNatsServer();
const nc = await connect({ servers: nats.url });
const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line));
    done();
  },
});
const gateway = await createGateway(testGatewayConfig(nats.url), { nc, logger: pino({ level: "debug" }, sink) });
afterAll(async () => {
  await gateway.close();
  await nc.close();
  await nats.stop();
});

it("logs attach, the session feed and stored client events with session, turn and event ids", async () => {
  const socket = await RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }), { device: "tab-1" });
  onTestFinished(() => socket.close());
  await socket.request({ op: "attach", session: "logs-s1", from: "start" });
  const published = await socket.request({
    op: "publish",
    session: "logs-s1",
    event: { id: "turn-abc", type: "input", turn: "turn-abc", data: { text: "hi" } },
  });
  expect(published.op).toBe("published");

  await waitFor(() => lines.some((l) => l.msg === "client event stored"));
  expect(lines.find((l) => l.msg === "attached")).toMatchObject({ session: "logs-s1", user: "alice", device: "tab-1" });
  // The feed's child logger stamps the session on each of its lines.
  expect(lines.find((l) => l.msg === "feed started")).toMatchObject({ session: "logs-s1" });
  expect(lines.find((l) => l.msg === "client event stored")).toMatchObject({
    session: "logs-s1",
    turn: "turn-abc",
    event: "turn-abc",
    type: "input",
    seq: (published as { seq: number }).seq,
  });
  for (const line of lines) expect(typeof line.time).toBe("number");
});
