import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { DEFAULT_CONTROL_BUCKET, type ErrorFrame, newId, type PublishedFrame } from "@threadline/protocol";
import { expect, onTestFinished, test } from "vitest";
import { storedEvents } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { startStack } from "./support/stack.ts";

test("without the control bucket, input and control events get the retryable UNAVAILABLE and nothing is stored; the same ids succeed once it is back", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const id = "ctl-unavailable";
  const s = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }));
  onTestFinished(() => s.close());

  const jsm = await jetstreamManager(stack.nc);
  await jsm.streams.delete(`KV_${DEFAULT_CONTROL_BUCKET}`);
  const input = { id: newId(), type: "input", data: { text: "hi" } };
  const cancel = { id: newId(), type: "cancel", turn: input.id };
  for (const event of [input, cancel]) {
    expect(await s.request<ErrorFrame>({ op: "publish", session: id, event }), event.type).toMatchObject({
      op: "error",
      code: "UNAVAILABLE",
      retryable: true,
      session: id,
    });
  }
  expect(await storedEvents(stack.agent, id)).toEqual([]);

  // The bucket is back (as provisioning recreates it): the client's retries with the same ids go through.
  await new Kvm(stack.nc).create(DEFAULT_CONTROL_BUCKET, { history: 1 });
  expect(await s.request<PublishedFrame>({ op: "publish", session: id, event: input })).toMatchObject({
    op: "published",
    id: input.id,
  });
  expect(await s.request<PublishedFrame>({ op: "publish", session: id, event: cancel })).toMatchObject({
    op: "published",
    id: cancel.id,
  });
  expect((await storedEvents(stack.agent, id)).map((e) => e.id)).toEqual([input.id, cancel.id]);
});
