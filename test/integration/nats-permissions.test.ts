import { readFileSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Agent, connectAgent } from "@threadline/agent";
import { createGateway, type Gateway } from "@threadline/gateway";
import { createNotifier, loadNotifierConfig } from "@threadline/notifier";
import { createPresenceService, loadPresenceConfig } from "@threadline/presence";
import { encodeMsgpack } from "@threadline/protocol";
import { type NatsServer, startNatsServer, startWebhookReceiver } from "@threadline/test-kit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { agentPasswordVariable, renderAccounts } from "../../deploy/nats/permissions.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { testGatewayConfig } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

// The shipped permission model (deploy/nats/permissions.ts) on a real nats-server: agents can only speak
// as themselves, the gateway runs with its least-privilege user. Passwords reach nats-server via env.
const PASSWORDS: Record<string, string> = {
  TL_NATS_GATEWAY_PASS: "gateway-test-pass",
  TL_NATS_PRESENCE_PASS: "presence-test-pass",
  TL_NATS_NOTIFIER_PASS: "notifier-test-pass",
  TL_NATS_SYS_PASS: "sys-test-pass",
  [agentPasswordVariable("agent-a")]: "agent-a-test-pass",
  [agentPasswordVariable("agent-b")]: "agent-b-test-pass",
};

let nats: NatsServer;
let gatewayNc: NatsConnection;
let gateway: Gateway;
let agentA: Agent;
/** A raw connection authenticated as agent-a, to try what the SDK would never do. */
let rawA: NatsConnection;

beforeAll(async () => {
  Object.assign(process.env, PASSWORDS);
  nats = await startNatsServer({ config: renderAccounts({ agents: ["agent-a", "agent-b"] }) });
  gatewayNc = await connect({ servers: nats.url, user: "gateway", pass: PASSWORDS.TL_NATS_GATEWAY_PASS });
  gateway = await createGateway(testGatewayConfig(nats.url), {
    nc: gatewayNc,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  const pass = PASSWORDS[agentPasswordVariable("agent-a")]!;
  agentA = await connectAgent({ servers: nats.url, user: "agent-a", pass, id: "agent-a", provision: false });
  rawA = await connect({ servers: nats.url, user: "agent-a", pass });
});
afterAll(async () => {
  await rawA?.close();
  await agentA?.close();
  await gateway?.close();
  await gatewayNc?.close();
  await nats?.stop();
});

/** Publishes as agent-a on a raw connection; resolves "stored" or "refused: <the client's error>". */
async function tryPublish(subject: string): Promise<"stored" | string> {
  const js = jetstream(rawA, { timeout: 1_000 });
  const envelope = { id: `spoof-${subject}`, type: "message.append", from: { kind: "agent", id: "x" }, ts: 1 };
  try {
    await js.publish(subject, encodeMsgpack(envelope));
    return "stored";
  } catch (error) {
    return `refused: ${error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : String(error)}`;
  }
}

async function stored(subject: string): Promise<number> {
  const jsm = await jetstreamManager(gatewayNc);
  const info = await jsm.streams.info("THREADLINE", { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

describe("NATS permissions (deploy/nats)", () => {
  it("deploy/nats/accounts.conf is the renderer's output for the demo agent", () => {
    const shipped = readFileSync(new URL("../../deploy/nats/accounts.conf", import.meta.url), "utf8");
    expect(shipped).toBe(renderAccounts({ agents: ["example-agent"] }));
    expect(shipped).not.toMatch(/password: "/); // passwords only as $VARIABLES
  });

  it("an agent publishes under its own identity", async () => {
    const ack = await agentA.publish("perm-1", { type: "note", data: { text: "hello" } });
    expect(ack.seq).toBeGreaterThan(0);
    expect(await tryPublish("tl.perm-1.out.agent.agent-a")).toBe("stored");
  });

  it.each([
    ["as another agent (output lane)", "tl.perm-1.out.agent.agent-b"],
    ["as another agent (control lane)", "tl.perm-1.ctl.agent.agent-b"],
    ["as another agent (input lane)", "tl.perm-1.in.agent.agent-b"],
    ["into a user's input lane", "tl.perm-1.in.user.alice"],
    ["into a user's control lane", "tl.perm-1.ctl.user.alice"],
    ["into the system lane", "tl.perm-1.sys.system.presence"],
    ["as another agent (state lane)", "tl.perm-1.st.agent.agent-b"],
    ["into a user's state lane", "tl.perm-1.st.user.alice"],
  ])("an agent publishing %s is refused by the server", async (_name, subject) => {
    expect(await tryPublish(subject)).toMatch(/^refused: .*permissions violation/i);
    expect(await stored(subject)).toBe(0);
  });

  it("an agent publishes state ops on its own st lane; the gateway publishes users' (PROTOCOL.md §19.4)", async () => {
    expect(await tryPublish("tl.perm-st.st.agent.agent-a")).toBe("stored");
    const s = await RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }));
    onTestFinished(() => s.close());
    const op = { object: "cart", op: "set", path: [], value: { items: 1 } };
    const published = await s.request({ op: "publish", session: "perm-st", event: { type: "state", data: op } });
    expect(published).toMatchObject({ op: "published" });
    expect(await stored("tl.perm-st.st.user.alice")).toBe(1);
  });

  it("an agent publishes turn.request into its own input lane", async () => {
    expect(await tryPublish("tl.perm-1.in.agent.agent-a")).toBe("stored");
  });

  it("agent and gateway share the control bucket: a call the agent wrote is answered through the gateway", async () => {
    const kv = await new Kvm(rawA).open("threadline-control");
    await kv.put(
      "perm-ctl.call.c1",
      JSON.stringify({ kind: "tool", turn: "t1", status: "pending", deadline: Date.now() + 60_000 }),
    );
    const s = await RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }));
    onTestFinished(() => s.close());
    const turn = "permturn1";
    expect(
      await s.request({ op: "publish", session: "perm-ctl", event: { id: turn, type: "input", data: { text: "hi" } } }),
    ).toMatchObject({ op: "published" });
    const pending = await kv.get(`perm-ctl.turn.${turn}`);
    expect(pending?.json()).toMatchObject({ status: "pending" });
    await kv.update(
      `perm-ctl.turn.${turn}`,
      JSON.stringify({ status: "running", updatedAt: Date.now() }),
      pending!.revision,
    );
    expect(
      await s.request({
        op: "publish",
        session: "perm-ctl",
        event: { type: "tool.result", ref: "c1", data: { result: 1 } },
      }),
    ).toMatchObject({ op: "published" });
    expect((await kv.get("perm-ctl.call.c1"))?.json()).toMatchObject({ status: "answered" });
    expect(await s.request({ op: "publish", session: "perm-ctl", event: { type: "cancel", turn } })).toMatchObject({
      op: "published",
    });
  });

  // Regression (issue 13 §4): agents could write any key of the control bucket, e.g. make themselves owner.
  it.each([
    ["the session owner (only the gateway writes it, on an operator's handoff)", "perm-keys.owner"],
    ["a key outside the turn/call layout", "perm-keys.anything"],
    ["a deeper key under turn", "perm-keys.turn.t1.x"],
  ])("an agent writing %s to the control bucket is refused by the server", async (_name, key) => {
    const kv = await new Kvm(jetstream(rawA, { timeout: 1_000 })).open("threadline-control");
    const owner = JSON.stringify({ owner: null, by: { kind: "agent", id: "agent-a" }, since: Date.now() });
    await expect(kv.put(key, owner)).rejects.toThrow(/permissions violation/i);
    const gatewayKv = await new Kvm(gatewayNc).open("threadline-control");
    expect(await gatewayKv.get(key)).toBeNull();
  });

  it("an agent writes the control keys its role needs: turn and call keys", async () => {
    const kv = await new Kvm(jetstream(rawA, { timeout: 1_000 })).open("threadline-control");
    await expect(kv.create("perm-keys.turn.t2", JSON.stringify({ status: "running" }))).resolves.toBeGreaterThan(0);
    await expect(kv.create("perm-keys.call.c2", JSON.stringify({ status: "pending" }))).resolves.toBeGreaterThan(0);
  });

  it("an agent cannot administer the stream", async () => {
    const jsm = await jetstreamManager(rawA, { timeout: 1_000 });
    await expect(jsm.streams.delete("THREADLINE")).rejects.toThrow();
    await expect((await jetstreamManager(gatewayNc)).streams.info("THREADLINE")).resolves.toBeDefined();
  });

  it("the gateway works end to end with its least-privilege user; the agent reads the session", async () => {
    const s = await RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }));
    expect(await s.request({ op: "attach", session: "perm-1", from: "start" })).toMatchObject({ op: "attached" });
    await s.waitEvents("perm-1", 2);
    expect(
      await s.request({ op: "publish", session: "perm-1", event: { type: "input", data: { text: "hi" } } }),
    ).toMatchObject({ op: "published" });
    const ack = await agentA.publish("perm-1", { type: "note", data: { text: "live" } });
    await s.next((f) => f.op === "event" && f.seq === ack.seq);
    const history = [];
    for await (const r of agentA.history("perm-1")) history.push(r.event.type);
    expect(history).toContain("input");
    await s.close();
  });

  it("the presence service runs with its restricted users (APP presence + SYS advisories)", async () => {
    const nc = await connect({ servers: nats.url, user: "presence", pass: PASSWORDS.TL_NATS_PRESENCE_PASS });
    onTestFinished(() => nc.close());
    const sys = await connect({ servers: nats.url, user: "sys", pass: PASSWORDS.TL_NATS_SYS_PASS });
    onTestFinished(() => sys.close());
    const service = await createPresenceService(
      loadPresenceConfig({
        NATS_URL: nats.url,
        THREADLINE_PRESENCE_PORT: "-1",
        LOG_LEVEL: "silent",
        // In this model only the gateway provisions the stream and buckets.
        THREADLINE_PROVISION: "false",
      }),
      { nc, sys, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) },
    );
    onTestFinished(() => service.close());
    expect(service.advisories).toBe(true);
    const s = await RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }));
    onTestFinished(() => s.close());
    await s.request({ op: "attach", session: "perm-presence", from: "start" });
    const presence = agentA.presence("perm-presence");
    await presence.enter({ status: "active" });
    const join = await s.next(
      (f) =>
        f.op === "event" && f.event.type === "presence.join" && (f.event.data as { id?: string })?.id === "agent-a",
    );
    expect(join).toMatchObject({ event: { from: { kind: "system", id: "presence" } } });
    await presence.leave();
  });

  it("the notifier runs with its restricted user: it delivers, and cannot write into a session or the control bucket", async () => {
    const pass = PASSWORDS.TL_NATS_NOTIFIER_PASS!;
    const nc = await connect({ servers: nats.url, user: "notifier", pass });
    onTestFinished(() => nc.close());
    const hooks = await startWebhookReceiver({ secret: "perm-secret" });
    onTestFinished(() => hooks.close());
    const notifier = await createNotifier(
      loadNotifierConfig({
        NATS_URL: nats.url,
        THREADLINE_PROVISION: "false", // in this model only the gateway provisions
        THREADLINE_WEBHOOK_URL: hooks.url,
        THREADLINE_WEBHOOK_SECRET: "perm-secret",
        THREADLINE_NOTIFY_DELAY_MS: "100",
        THREADLINE_NOTIFIER_PORT: "-1",
      }),
      { nc, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) },
    );
    onTestFinished(() => notifier.close());
    const s = await RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }));
    onTestFinished(() => s.close());
    const input = { id: "permnotify1", type: "input", data: { text: "hi" } };
    // published without attaching: alice has no presence entry, she is away
    expect(await s.request({ op: "publish", session: "perm-notify", event: input })).toMatchObject({ op: "published" });
    const end = await agentA.publish("perm-notify", {
      type: "turn.end",
      turn: "permnotify1",
      ref: "permnotify1",
      data: { status: "failed" },
    });
    const hook = await hooks.next(undefined, 10_000);
    expect(hook.body).toMatchObject({ session: "perm-notify", user: "alice", position: { seq: end.seq } });

    const js = jetstream(nc, { timeout: 1_000 });
    const envelope = encodeMsgpack({ id: "n1", type: "note", from: { kind: "system", id: "notifier" }, ts: 1 });
    await expect(js.publish("tl.perm-notify.sys.system.presence", envelope)).rejects.toThrow(/permissions violation/i);
    await expect(js.publish("tl.perm-notify.out.agent.agent-a", envelope)).rejects.toThrow(/permissions violation/i);
    const control = await new Kvm(js).open("threadline-control");
    await expect(control.put("perm-notify.owner", "{}")).rejects.toThrow(/permissions violation/i);
  });
});
