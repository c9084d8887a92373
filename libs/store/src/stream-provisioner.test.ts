import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type Msg, type NatsConnection, nanos } from "@nats-io/transport-node";
import { decodeMsgpack, ErrorCode, encodeMsgpack, epochFromStreamCreated, ThreadlineError } from "@threadline/protocol";
import { startNatsServer as startTestNats, type NatsServer as TestNats } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupThreadline, PROVISION_DEFAULTS, provisionThreadline } from "./stream-provisioner.ts";

let nats: TestNats;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

describe("provisionThreadline", () => {
  it("creates the stream and cursor bucket with the documented defaults; parallel calls agree", async () => {
    const [a, b] = await Promise.all([provisionThreadline(nc), provisionThreadline(nc)]);
    expect(a.stream).toBe("THREADLINE");
    expect(b.epoch).toBe(a.epoch);
    const info = await (await jetstreamManager(nc)).streams.info("THREADLINE");
    expect(a.epoch).toBe(epochFromStreamCreated(info.created));
    expect(info.config).toMatchObject({
      subjects: ["tl.>"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: "old",
      allow_direct: true,
      max_age: nanos(PROVISION_DEFAULTS.maxAge),
      max_bytes: -1,
      max_msg_size: 1024 * 1024,
      duplicate_window: nanos(120_000),
      num_replicas: 1,
      republish: { src: "tl.>", dest: "live.tl.>" },
    });
    expect(a.subjects.session("s1")).toBe("tl.s1.>");
    const kv = await new Kvm(nc).open("threadline-cursors");
    expect((await kv.status()).history).toBe(1);
    // offline delivery: subscriptions never expire, the claim ledger forgets a trigger after 24 h
    const push = await (await new Kvm(nc).open("threadline-push")).status();
    expect({ history: push.history, ttl: push.ttl, replicas: push.replicas }).toEqual({
      history: 1,
      ttl: 0,
      replicas: 1,
    });
    const notify = await (await new Kvm(nc).open("threadline-notify")).status();
    expect({ history: notify.history, ttl: notify.ttl }).toEqual({ history: 1, ttl: 24 * 60 * 60 * 1000 });
    expect(PROVISION_DEFAULTS.notifyTtlMs).toBe(24 * 60 * 60 * 1000);
  });

  it("is idempotent: a second call keeps the stream (same epoch) and its events", async () => {
    const first = await provisionThreadline(nc);
    const js = jetstream(nc);
    await js.publish("tl.keep.out.agent.a", encodeMsgpack({ x: 1 }));
    const again = await provisionThreadline(nc);
    expect(again.epoch).toBe(first.epoch);
    expect((await (await jetstreamManager(nc)).streams.info("THREADLINE")).state.messages).toBeGreaterThanOrEqual(1);
  });

  it("updates differing mutable limits in place, racing provisioners included", async () => {
    const before = await provisionThreadline(nc);
    const options = {
      maxAge: 3_600_000,
      maxBytes: 512 * 1024 * 1024,
      maxMsgSize: 64 * 1024,
      duplicateWindowMs: 60_000,
    };
    const results = await Promise.all([provisionThreadline(nc, options), provisionThreadline(nc, options)]);
    for (const r of results) {
      expect(r.epoch).toBe(before.epoch);
      expect(r.config).toMatchObject({
        max_age: nanos(3_600_000),
        max_bytes: 512 * 1024 * 1024,
        max_msg_size: 64 * 1024,
        duplicate_window: nanos(60_000),
      });
    }
    // back to the defaults for the other tests
    expect((await provisionThreadline(nc)).config.max_msg_size).toBe(1024 * 1024);
  });

  it("custom names: stream, prefixes and bucket", async () => {
    const info = await provisionThreadline(nc, {
      stream: "CUSTOM",
      prefix: "cx",
      livePrefix: "lv",
      cursorBucket: "custom-cursors",
      controlBucket: "custom-control",
      pushBucket: "custom-push",
      notifyBucket: "custom-notify",
      notifyTtlMs: 3_600_000,
      maxAge: 0,
    });
    expect(info.config).toMatchObject({ subjects: ["cx.>"], republish: { src: "cx.>", dest: "lv.cx.>" }, max_age: 0 });
    expect(info.subjects.liveSession("s")).toBe("lv.cx.s.>");
    expect((await lookupThreadline(nc, { stream: "CUSTOM", prefix: "cx", livePrefix: "lv" })).epoch).toBe(info.epoch);
    await new Kvm(nc).open("custom-cursors");
    expect((await (await new Kvm(nc).open("custom-control")).status()).history).toBe(1);
    expect((await (await new Kvm(nc).open("custom-push")).status()).ttl).toBe(0);
    expect((await (await new Kvm(nc).open("custom-notify")).status()).ttl).toBe(3_600_000);
  });

  it("refuses a same-named stream with other subjects, and one without the republish", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "OTHER_SUBJECTS", subjects: ["os.x.>"] });
    const wrongSubjects = await provisionThreadline(nc, { stream: "OTHER_SUBJECTS", prefix: "os" }).catch((e) => e);
    expect(wrongSubjects).toBeInstanceOf(ThreadlineError);
    expect(wrongSubjects).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: false });
    expect(wrongSubjects.message).toMatch(/OTHER_SUBJECTS.*subjects \["os\.x\.>"\] do not include os\.>/);

    await jsm.streams.add({ name: "NO_REPUBLISH", subjects: ["nr.>"] });
    await jsm.streams.add({ name: "NO_REPUBLISH_KEEP", subjects: ["nk.>"] });
    await expect(lookupThreadline(nc, { stream: "NO_REPUBLISH_KEEP", prefix: "nk" })).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
      message: expect.stringMatching(/republish is not configured/),
    });
    const noRepublish = await provisionThreadline(nc, { stream: "NO_REPUBLISH", prefix: "nr" }).catch((e) => e);
    const [major = 0, minor = 0] = (nc.info?.version ?? "0.0").split(".").map(Number);
    if (major > 2 || (major === 2 && minor >= 10)) {
      // 2.10+ can add republish to an existing stream: provisioning does, and keeps the stream.
      expect(noRepublish).not.toBeInstanceOf(Error);
      expect((await jsm.streams.info("NO_REPUBLISH")).config.republish).toEqual({ src: "nr.>", dest: "live.nr.>" });
    } else {
      expect(noRepublish).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: false });
      expect(noRepublish.message).toMatch(/republish is not configured.*cannot change republish/);
    }
    // nothing was deleted
    expect((await jsm.streams.info("NO_REPUBLISH")).config.subjects).toEqual(["nr.>"]);
  });

  it("refuses subjects another stream already owns", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "OWNER", subjects: ["own.>"] });
    await expect(provisionThreadline(nc, { stream: "INTRUDER", prefix: "own" })).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
      message: expect.stringMatching(/overlap/),
    });
  });

  it("lookupThreadline reports a missing stream as UNAVAILABLE", async () => {
    await expect(lookupThreadline(nc, { stream: "MISSING", prefix: "missing" })).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
      message: expect.stringMatching(/MISSING does not exist/),
    });
  });

  it("rejects invalid options before touching the server", async () => {
    await expect(provisionThreadline(nc, { prefix: "a.b" })).rejects.toBeInstanceOf(TypeError);
    await expect(provisionThreadline(nc, { prefix: "x", livePrefix: "x" })).rejects.toBeInstanceOf(TypeError);
    await expect(provisionThreadline(nc, { replicas: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(provisionThreadline(nc, { notifyBucket: "a.b" })).rejects.toBeInstanceOf(TypeError);
    await expect(provisionThreadline(nc, { notifyTtlMs: 10 })).rejects.toBeInstanceOf(RangeError);
    await expect(provisionThreadline(nc, { maxAge: 1000, duplicateWindowMs: 2000 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe("republish on nats-server 2.9 (the gateway's live feed depends on it)", () => {
  it("republishes every stored event to live.<prefix>.<session>… with Nats-Sequence, Nats-Last-Sequence (per subject) and Nats-Subject", async () => {
    await provisionThreadline(nc);
    const js = jetstream(nc);
    const live: Msg[] = [];
    const sub = nc.subscribe("live.tl.rp.>", { max: 4 });
    const done = (async () => {
      for await (const m of sub) live.push(m);
    })();
    await nc.flush();
    const publish = (subject: string, id: string) =>
      js.publish(subject, encodeMsgpack({ id }), { msgID: id, expect: { streamName: "THREADLINE" } });
    const a = await publish("tl.rp.out.agent.x", "a");
    const b = await publish("tl.rp.in.user.u", "b");
    // another session in between: not on this subscription, but it moves the stream seq
    await publish("tl.elsewhere.out.agent.x", "other");
    const dup = await publish("tl.rp.out.agent.x", "a"); // deduplicated: stored once, not republished
    const c = await publish("tl.rp.out.agent.x", "c");
    const d = await publish("tl.rp.in.user.u", "d");
    expect(dup).toMatchObject({ duplicate: true, seq: a.seq });
    await done;

    expect(live.map((m) => m.subject)).toEqual([
      "live.tl.rp.out.agent.x",
      "live.tl.rp.in.user.u",
      "live.tl.rp.out.agent.x",
      "live.tl.rp.in.user.u",
    ]);
    const headers = live.map((m) => ({
      seq: m.headers?.get("Nats-Sequence"),
      last: m.headers?.get("Nats-Last-Sequence"),
      subject: m.headers?.get("Nats-Subject"),
      stream: m.headers?.get("Nats-Stream"),
      msgId: m.headers?.get("Nats-Msg-Id"),
      id: (decodeMsgpack(m.data) as { id: string }).id,
    }));
    expect(headers).toEqual([
      { seq: String(a.seq), last: "0", subject: "tl.rp.out.agent.x", stream: "THREADLINE", msgId: "a", id: "a" },
      { seq: String(b.seq), last: "0", subject: "tl.rp.in.user.u", stream: "THREADLINE", msgId: "b", id: "b" },
      // Nats-Last-Sequence is the previous seq on the same subject, not the stream's previous seq
      {
        seq: String(c.seq),
        last: String(a.seq),
        subject: "tl.rp.out.agent.x",
        stream: "THREADLINE",
        msgId: "c",
        id: "c",
      },
      {
        seq: String(d.seq),
        last: String(b.seq),
        subject: "tl.rp.in.user.u",
        stream: "THREADLINE",
        msgId: "d",
        id: "d",
      },
    ]);
  });
});
