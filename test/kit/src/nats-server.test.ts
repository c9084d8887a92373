import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it, onTestFailed, onTestFinished } from "vitest";
import { TestKitError } from "./errors.ts";
import { isHealthy } from "./monitor.ts";
import { leftOutOfMetaGroup, type NatsCluster, startCluster } from "./nats-cluster.ts";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats-server.ts";
import { waitFor } from "./wait-for.ts";

// This file tests the kit's own process management, so it always spawns
// local servers, even when the environment points tests at an external one.
delete process.env.NATS_URL;

async function server(options?: NatsServerOptions): Promise<NatsServer> {
  const s = await startNatsServer(options);
  onTestFinished(() => s.stop());
  onTestFailed(() => console.error(`--- ${s.name} log ---\n${s.log()}`));
  return s;
}

async function client(servers: string | string[], options: Record<string, unknown> = {}): Promise<NatsConnection> {
  const nc = await connect({ servers, ...options });
  onTestFinished(() => nc.close());
  return nc;
}

/** Resolves on the connection's next status event of `type`; call it before the action that causes it. */
function nextStatus(nc: NatsConnection, type: "disconnect" | "reconnect"): Promise<string> {
  return (async () => {
    for await (const status of nc.status()) if (status.type === type) return status.server;
    throw new Error(`connection closed before a ${type} status`);
  })();
}

async function publishMany(nc: NatsConnection, subject: string, count: number): Promise<number[]> {
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) seqs.push((await js.publish(subject, `m${i}`)).seq);
  return seqs;
}

describe("startNatsServer", () => {
  it("starts a JetStream server on random loopback ports and reports it in /varz and /jsz", async () => {
    const a = await server();
    const b = await server({ name: "kit-named" });
    expect(a.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(a.port).not.toBe(b.port);
    expect(a.pid).toBeGreaterThan(0);
    expect(a.running()).toBe(true);
    expect(a.users).toBeUndefined();
    expect((await b.varz()).server_name).toBe("kit-named");

    const nc = await client(a.url);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "KIT", subjects: ["kit.>"] });
    expect(await publishMany(nc, "kit.a", 3)).toEqual([1, 2, 3]);

    const jsz = await a.jsz();
    expect(jsz.config?.store_dir).toBe(join(a.storeDir, "jetstream"));
    expect(jsz.messages).toBe(3);
    const streams = jsz.account_details?.flatMap((acc) => acc.stream_detail ?? []) ?? [];
    expect(streams.map((s) => [s.name, s.state.messages])).toEqual([["KIT", 3]]);
    expect(a.log()).toContain("Server is ready");
  });

  it("restart() keeps the ports and the stored data", async () => {
    const s = await server();
    const nc = await client(s.url, { maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
    await publishMany(nc, "keep.a", 5);
    const firstPid = s.pid;
    const reconnected = nextStatus(nc, "reconnect");

    await s.restart();
    expect(s.running()).toBe(true);
    expect(s.pid).not.toBe(firstPid);
    expect((await s.varz()).port).toBe(s.port);
    // The same client reconnects to the same URL and sees the old messages; new seqs continue.
    expect(await reconnected).toBe(`127.0.0.1:${s.port}`);
    expect((await jsm.streams.info("KEEP")).state.messages).toBe(5);
    expect(await publishMany(nc, "keep.a", 1)).toEqual([6]);
    expect(s.log()).toContain("----- restart at");
  });

  it("kill() SIGKILLs the process, the exit is observed, and a restart recovers the store", async () => {
    const s = await server();
    const nc = await client(s.url, { maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "CRASH", subjects: ["crash.>"] });
    await publishMany(nc, "crash.a", 4);
    const disconnected = nextStatus(nc, "disconnect");
    const pid = s.pid as number;

    await s.kill();
    expect(s.running()).toBe(false);
    expect(s.pid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expect(await disconnected).toContain(String(s.port));
    await expect(s.varz()).rejects.toThrow(/ECONNREFUSED/);
    await s.kill(); // no-op when not running

    const reconnected = nextStatus(nc, "reconnect");
    await s.restart();
    await reconnected;
    expect((await jsm.streams.info("CRASH")).state.messages).toBe(4);
  });

  it("fails fast with the server log when the server cannot start", async () => {
    const error = await startNatsServer({ config: "this is { not valid" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TestKitError);
    expect((error as TestKitError).code).toBe("START_FAILED");
    // Fast: the kit fails on the process exit, not on its ready timeout (that one reads "was not healthy within").
    expect((error as TestKitError).message).toMatch(/exited \(code 1\) before it was ready/);
    expect((error as TestKitError).log).toMatch(/Parse error/i);
  });

  it("stop() removes the kit's temp dir but never a store dir it was given", async () => {
    const own = await startNatsServer();
    onTestFinished(() => own.stop());
    const given = await mkdtemp(join(tmpdir(), "kit-store-"));
    onTestFinished(() => rm(given, { recursive: true, force: true }));
    const external = await startNatsServer({ storeDir: given });
    onTestFinished(() => external.stop());
    expect(existsSync(own.storeDir)).toBe(true);

    await Promise.all([own.stop(), external.stop()]);
    expect(own.running()).toBe(false);
    expect(existsSync(own.storeDir)).toBe(false);
    expect(existsSync(join(given, "jetstream"))).toBe(true);
    await expect(own.restart()).rejects.toMatchObject({ code: "STOPPED" });
    await own.stop(); // idempotent
  });

  it("await using stops the server at the end of the scope", async () => {
    let pid: number | undefined;
    {
      await using s = await startNatsServer({ jetstream: false });
      pid = s.pid;
      expect((await s.jsz()).disabled).toBe(true);
    }
    expect(() => process.kill(pid as number, 0)).toThrow(/ESRCH/);
  });

  it("systemAccount: APP (JetStream) and SYS users, no anonymous access", async () => {
    const s = await server({ systemAccount: true });
    expect(s.users).toEqual({ app: { user: "app", pass: "app" }, sys: { user: "sys", pass: "sys" } });
    const users = s.users!;

    await expect(connect({ servers: s.url, reconnect: false })).rejects.toThrow(/Authorization Violation/i);

    const app = await client(s.url, users.app);
    const jsm = await jetstreamManager(app);
    await jsm.streams.add({ name: "APPS", subjects: ["apps.>"] });
    expect(await publishMany(app, "apps.x", 2)).toEqual([1, 2]);

    const sys = await client(s.url, users.sys);
    const ping = await sys.request("$SYS.REQ.SERVER.PING", undefined, { timeout: 2_000 });
    expect(ping.json<{ server: { name: string } }>().server.name).toBe(s.name);
  });

  it("with NATS_URL set, returns a handle for that server which it cannot restart or kill", async () => {
    const real = await server();
    process.env.NATS_URL = real.url;
    process.env.NATS_MONITOR_URL = real.monitorUrl;
    onTestFinished(() => {
      delete process.env.NATS_URL;
      delete process.env.NATS_MONITOR_URL;
    });

    const external = await startNatsServer();
    expect(external.url).toBe(real.url);
    expect(external.port).toBe(real.port);
    expect(external.pid).toBeUndefined();
    expect((await external.varz()).server_name).toBe(real.name);
    await expect(external.restart()).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
    await expect(external.kill()).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
    await expect(startNatsServer({ systemAccount: true })).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
    await external.stop();
    expect(real.running()).toBe(true);
  });
});

describe("startCluster", () => {
  it("forms a 3-node JetStream cluster whose R3 stream survives killing its leader", async () => {
    const cluster: NatsCluster = await startCluster(3);
    onTestFinished(() => cluster.stop());
    onTestFailed(() => {
      for (const s of cluster.servers) console.error(`--- ${s.name} log ---\n${s.log()}`);
    });
    const names = cluster.servers.map((s) => s.name);
    expect(new Set(names).size).toBe(3);
    expect(cluster.urls).toHaveLength(3);
    const varz = await Promise.all(cluster.servers.map((s) => s.varz()));
    expect(varz.map((v) => v.server_name)).toEqual(names);
    // Every node is in the meta group (a 2.10 cold start can leave one out: startCluster retries such a start).
    const metaLeader = await cluster.metaLeader({ followers: "prefer" });
    expect(leftOutOfMetaGroup(metaLeader.name, await metaLeader.jsz(), names)).toEqual([]);

    const nc = await client(cluster.urls, { maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const jsm = await jetstreamManager(nc);
    const created = await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
    expect(created.cluster?.replicas).toHaveLength(2);
    await publishMany(nc, "r3.a", 10);

    const leaderName = (await jsm.streams.info("R3")).cluster?.leader;
    const leader = cluster.servers.find((s) => s.name === leaderName);
    expect(leader).toBeDefined();
    await leader!.kill();

    // Publishing resumes once the two survivors elect a new stream leader.
    const js = jetstream(nc);
    const ack = await waitFor(() => js.publish("r3.a", "after-kill", { timeout: 1_000 }), {
      timeoutMs: 15_000,
      message: "no stream leader after killing the old one",
    });
    expect(ack.seq).toBe(11);
    const info = await jsm.streams.info("R3");
    expect(info.cluster?.leader).not.toBe(leaderName);
    expect(info.state.messages).toBe(11);

    // The killed node comes back on its ports (serving once JetStream is up, not yet current) and catches up.
    await leader!.restart({ ready: "serving" });
    expect(await isHealthy(leader!.monitorUrl, "serving")).toBe(true);
    await waitFor(
      async () => {
        const jsz = await leader!.jsz();
        const stream = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === "R3");
        return stream?.state.messages === 11;
      },
      { timeoutMs: 10_000, message: "restarted node did not catch up" },
    );
    expect(cluster.servers.includes((await cluster.metaLeader()) as never)).toBe(true);
  });
});
