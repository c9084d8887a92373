import { startNatsServer } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { spawnGateway } from "./support/gateway-process.ts";
import { watchPresence } from "./support/presence.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { mintToken } from "./support/tokens.ts";

test("a SIGKILLed gateway: its users leave as crashed (disconnect advisory of the gateway's NATS connection)", async () => {
  const nats = await startNatsServer({ systemAccount: true });
  onTestFinished(() => nats.stop());
  const { presence, log } = await watchPresence(nats, "gw");
  // Heartbeats every 20 s: expiry would take a minute, so a prompt leave can only come from the advisory.
  const gateway = await spawnGateway(nats.url, {
    NATS_USER: nats.users!.app.user,
    NATS_PASS: nats.users!.app.pass,
    THREADLINE_PRESENCE_HEARTBEAT_MS: "20000",
  });
  onTestFinished(() => gateway.kill());

  for (const user of ["ann", "ben"]) {
    const socket = await RawSocket.connect(gateway.url, await mintToken({ sub: user }));
    onTestFinished(() => socket.terminate());
    await socket.request({ op: "attach", session: "gw", from: "now" });
    await log.next((e) => e.type === "presence.join" && e.data?.id === user);
  }
  await gateway.kill();
  const leaves = await Promise.all(
    ["ann", "ben"].map((user) => log.next((e) => e.type === "presence.leave" && e.data?.id === user, 15_000)),
  );
  expect(leaves.map((e) => e.data?.reason)).toEqual(["crashed", "crashed"]);
  expect(presence.service.members("gw")).toEqual([]);
});
