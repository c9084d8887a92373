import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createGateway, type Gateway } from "@threadline/gateway";
import { type ErrorFrame, newId, type PublishedFrame } from "@threadline/protocol";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlKv, storedEvents } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack, testGatewayConfig } from "./support/stack.ts";

let stack: Stack;
let secondNc: NatsConnection;
let second: Gateway;
let kv: ControlKv;

beforeAll(async () => {
  stack = await startStack();
  secondNc = await connect({ servers: stack.nats.url });
  second = await createGateway(testGatewayConfig(stack.nats.url, { THREADLINE_GATEWAY_ID: "second" }), {
    nc: secondNc,
    logger: pino({ level: "silent" }),
  });
  kv = await ControlKv.open(stack.nc);
});
afterAll(async () => {
  await second?.close();
  await secondNc?.close();
  await stack?.[Symbol.asyncDispose]();
});

describe("two gateways, one call", () => {
  it("the first answer wins on whichever gateway it lands; the other gets CALL_ALREADY_ANSWERED", async () => {
    const id = `ctl-cas-${process.pid}`;
    const phone = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }), { device: "phone" });
    const laptop = await RawSocket.connect(second.url, await stack.token({ sub: "alice" }), { device: "laptop" });
    const rounds = 20;
    const winners: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const call = `call-${i}`;
      await kv.putCall(id, call, { turn: "t1" });
      const ids = [newId(), newId()];
      const replies = await Promise.all(
        [phone, laptop].map((s, k) =>
          s.request<PublishedFrame | ErrorFrame>({
            op: "publish",
            session: id,
            event: { id: ids[k], type: "tool.result", ref: call, data: { result: { from: k } } },
          }),
        ),
      );
      const published = replies.filter((r): r is PublishedFrame => r.op === "published");
      const refused = replies.filter((r): r is ErrorFrame => r.op === "error");
      expect(published, JSON.stringify(replies)).toHaveLength(1);
      expect(refused[0]).toMatchObject({ code: "CALL_ALREADY_ANSWERED" });
      expect((await kv.call(id, call))?.answer).toBe(published[0]!.id);
      winners.push(published[0]!.id);
    }
    const stored = (await storedEvents(stack.agent, id)).filter((e) => e.type === "tool.result");
    expect(stored.map((e) => e.id)).toEqual(winners);
    await Promise.all([phone.close(), laptop.close()]);
  });
});
