import { createClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { watchPresence } from "./support/presence.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { testStack } from "./support/stack.ts";

test("a client sets its status and metadata; it survives a resume; oversized metadata is refused by SDK and gateway", async () => {
  const stack = await testStack();
  const { log } = await watchPresence(stack.nats, "status");

  const net = controlledWebSocket();
  const client = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "carol" }),
    device: "desk",
    WebSocket: net.WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  onTestFinished(() => client.close());
  const session = await client.attach("status");
  await session.presence.set("typing", { metadata: { draft: 12 } });
  const typing = await log.next((e) => e.type === "presence.update" && e.data?.status === "typing");
  expect(typing.data).toMatchObject({
    id: "carol",
    metadata: { draft: 12 },
    devices: [{ device: "desk", status: "typing" }],
  });

  await expect(session.presence.set("idle", { metadata: { blob: "x".repeat(2000) } })).rejects.toMatchObject({
    code: "EVENT_TOO_LARGE",
  });
  await expect(session.presence.set("Not A Status")).rejects.toMatchObject({ code: "INVALID_FRAME" });

  // The socket drops: the new socket's entry starts "active", then the SDK re-sends "typing".
  const seenBefore = log.events.length;
  net.drop();
  await waitFor(() =>
    log.events.slice(seenBefore).some((e) => e.data?.status === "typing" && e.data.devices.length === 1),
  );
  await waitFor(() => session.presence.members.find((m) => m.id === "carol")?.status === "typing");

  // The gateway checks too, for clients that are not this SDK.
  const raw = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "dave" }));
  onTestFinished(() => raw.close());
  const notAttached = await raw.request({ op: "presence", session: "status", status: "idle" });
  expect(notAttached).toMatchObject({ op: "error", code: "NOT_ATTACHED" });
  await raw.request({ op: "attach", session: "status", from: "now" });
  const tooLarge = await raw.request({
    op: "presence",
    session: "status",
    status: "idle",
    metadata: { b: "y".repeat(4000) },
  });
  expect(tooLarge).toMatchObject({ op: "error", code: "EVENT_TOO_LARGE" });
  const badStatus = await raw.request({ op: "presence", session: "status", status: 7 });
  expect(badStatus).toMatchObject({ op: "error", code: "INVALID_FRAME" });
  expect(await raw.request({ op: "presence", session: "status", status: "away" })).toMatchObject({
    op: "presence_set",
    status: "away",
  });
  await log.next((e) => e.data?.id === "dave" && e.data.status === "away");
});
