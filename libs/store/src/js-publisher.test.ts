import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  connect,
  NoRespondersError,
  PermissionViolationError,
  TimeoutError,
} from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import { JsPublisher } from "./js-publisher.ts";
import { isClosedError, isTransientNatsError, JsErrCode, jsApiErrorCode } from "./nats-errors.ts";
import { provisionThreadline } from "./stream-provisioner.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const nats = useProvisionedNats();
const bytes = (text: string) => new TextEncoder().encode(text);

function publisher(options?: ConstructorParameters<typeof JsPublisher>[1]): JsPublisher {
  const p = new JsPublisher(nats.nc, options);
  onTestFinished(() => p.close());
  return p;
}

/** A core subscriber on `subject` that never answers: publishes there get no ack (and no "no responders"). */
function silentListener(subject: string): void {
  const sub = nats.nc.subscribe(subject, { callback: () => {} });
  onTestFinished(() => sub.unsubscribe());
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("JsPublisher on nats-server", () => {
  it("resolves each publish to its stream and seq, in call order, many in flight at once", async () => {
    const p = publisher();
    const acks = await Promise.all(
      Array.from({ length: 500 }, (_, i) => p.publish("tl.ack.out.agent.bot", bytes(`e${i}`))),
    );
    const seqs = acks.map((a) => a.seq);
    expect(acks.every((a) => a.stream === nats.info.stream && !a.duplicate)).toBe(true);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(500);
    const stored = await (await jetstreamManager(nats.nc)).streams.getMessage(nats.info.stream, { seq: seqs[42]! });
    expect(stored?.subject).toBe("tl.ack.out.agent.bot");
    expect(stored?.string()).toBe("e42");
    expect(p.size).toBe(0);
  });

  it("Nats-Msg-Id: a second publish with the same id is acked as a duplicate of the first seq", async () => {
    const p = publisher();
    const options = { msgId: "dup/e1", expectStream: nats.info.stream };
    const first = await p.publish("tl.dup.out.agent.bot", bytes("one"), options);
    const again = await p.publish("tl.dup.out.agent.bot", bytes("one"), options);
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ stream: nats.info.stream, seq: first.seq, duplicate: true });
  });

  it("expected last subject seq: a stale expectation rejects with the API error 10071, a current one stores", async () => {
    const p = publisher();
    const first = await p.publish("tl.cas.data.system.streams", bytes("a"), { expectLastSubjectSequence: 0 });
    const stale = await rejection(
      p.publish("tl.cas.data.system.streams", bytes("b"), { expectLastSubjectSequence: 0 }),
    );
    expect(jsApiErrorCode(stale)).toBe(JsErrCode.WRONG_LAST_SEQUENCE);
    expect(isTransientNatsError(stale)).toBe(false);
    const next = await p.publish("tl.cas.data.system.streams", bytes("b"), { expectLastSubjectSequence: first.seq });
    expect(next.seq).toBeGreaterThan(first.seq);
  });

  it("a header value with a line break or a bad timeout: the publish rejects (not throws) and sends nothing", async () => {
    const p = publisher();
    const publishing = p.publish("tl.bad.out.agent.bot", bytes("x"), { msgId: "bad\r\nid" });
    expect(await rejection(publishing)).toBeInstanceOf(TypeError);
    expect(await rejection(p.publish("tl.bad.out.agent.bot", bytes("x"), { timeoutMs: 0 }))).toBeInstanceOf(RangeError);
    expect(p.size).toBe(0);
  });

  it("expected stream: another stream name rejects with the API error 10060", async () => {
    const p = publisher();
    const error = await rejection(p.publish("tl.other.out.agent.bot", bytes("x"), { expectStream: "NOT_IT" }));
    expect(jsApiErrorCode(error)).toBe(JsErrCode.STREAM_EXPECTED_MISMATCH);
  });

  it("no stream on the subject: rejects at once with NoRespondersError, a transient error", async () => {
    const p = publisher({ timeoutMs: 60_000 });
    const error = await rejection(p.publish("nostream.here", bytes("x")));
    expect(error).toBeInstanceOf(NoRespondersError);
    expect(isTransientNatsError(error)).toBe(true);
    expect(p.size).toBe(0);
  });

  it("no ack in time: rejects with TimeoutError (transient); publishes with different timeouts expire in deadline order", async () => {
    silentListener("silent.timeout");
    const p = publisher({ timeoutMs: 60_000 });
    const order: string[] = [];
    const slow = rejection(p.publish("silent.timeout", bytes("x"), { timeoutMs: 400 })).then((e) => {
      order.push("slow");
      return e;
    });
    const fast = rejection(p.publish("silent.timeout", bytes("y"), { timeoutMs: 50 })).then((e) => {
      order.push("fast");
      return e;
    });
    const [slowError, fastError] = await Promise.all([slow, fast]);
    expect(order).toEqual(["fast", "slow"]);
    for (const error of [slowError, fastError]) {
      expect(error).toBeInstanceOf(TimeoutError);
      expect(isTransientNatsError(error)).toBe(true);
    }
    expect(p.size).toBe(0);
  });

  it("a paused server: the publish times out; once it runs again, the late ack is ignored and new publishes work", async () => {
    const server = await startNatsServer();
    onTestFinished(() => server.stop());
    const nc = await connect({ servers: server.url });
    onTestFinished(() => nc.close());
    await provisionThreadline(nc);
    const p = new JsPublisher(nc, { timeoutMs: 300 });
    onTestFinished(() => p.close());
    process.kill(server.pid!, "SIGSTOP");
    // A signal takes effect when the kernel next schedules the process: publish only once it is stopped
    // (state T in /proc/<pid>/stat), or a loaded machine lets the server ack first (seen in CI).
    await waitFor(() => processState(server.pid!) === "T", { timeoutMs: 5_000, message: "nats-server not stopped" });
    let error: unknown;
    try {
      error = await rejection(p.publish("tl.paused.out.agent.bot", bytes("x"), { msgId: "paused/e1" }));
    } finally {
      process.kill(server.pid!, "SIGCONT");
    }
    expect(error).toBeInstanceOf(TimeoutError);
    // The retry with the same id finds the message the paused server stored after all.
    const retried = await p.publish("tl.paused.out.agent.bot", bytes("x"), { msgId: "paused/e1", timeoutMs: 5000 });
    const fresh = await p.publish("tl.paused.out.agent.bot", bytes("y"), { timeoutMs: 5000 });
    expect(retried.duplicate).toBe(true);
    expect(fresh.seq).toBe(retried.seq + 1);
  });

  it("close: pending publishes reject with ClosedConnectionError at once, later ones too", async () => {
    silentListener("silent.close");
    const p = publisher({ timeoutMs: 60_000 });
    const pending = [
      rejection(p.publish("silent.close", bytes("a"))),
      rejection(p.publish("silent.close", bytes("b"))),
    ];
    expect(p.size).toBe(2);
    p.close();
    for (const error of await Promise.all(pending)) {
      expect(error).toBeInstanceOf(ClosedConnectionError);
      expect(isClosedError(error)).toBe(true);
    }
    expect(await rejection(p.publish("tl.after.out.agent.bot", bytes("c")))).toBeInstanceOf(ClosedConnectionError);
  });

  it("the connection closing rejects pending publishes with ClosedConnectionError", async () => {
    const nc = await connect({ servers: nats.nats.url });
    const sub = nats.nc.subscribe("silent.conn", { callback: () => {} });
    onTestFinished(() => sub.unsubscribe());
    await nats.nc.flush();
    const p = new JsPublisher(nc, { timeoutMs: 60_000 });
    const pending = rejection(p.publish("silent.conn", bytes("a")));
    await nc.flush();
    await nc.close();
    expect(await pending).toBeInstanceOf(ClosedConnectionError);
  });

  it("pending limit: one publish beyond maxPending is refused with TOO_MANY_PENDING, and admitted again once acks free room", async () => {
    silentListener("silent.limit");
    const p = publisher({ maxPending: 2, timeoutMs: 60_000 });
    const held = [rejection(p.publish("silent.limit", bytes("a"))), rejection(p.publish("silent.limit", bytes("b")))];
    const refused = await rejection(p.publish("tl.limit.out.agent.bot", bytes("c")));
    expect(refused).toBeInstanceOf(ThreadlineError);
    expect((refused as ThreadlineError).code).toBe(ErrorCode.TOO_MANY_PENDING);
    p.close();
    await Promise.all(held);
  });
});

describe("JsPublisher and NATS permissions", () => {
  it("a subject the user may not publish on rejects at once with PermissionViolationError", async () => {
    const server = await startNatsServer({
      config: [
        "authorization: { users: [ { user: a, password: a, permissions: {",
        '  publish: { allow: ["tl.*.out.agent.a", "$JS.API.>"] }, subscribe: { allow: ["_INBOX.>"] } } } ] }',
      ].join("\n"),
    });
    onTestFinished(() => server.stop());
    const nc = await connect({ servers: server.url, user: "a", pass: "a" });
    onTestFinished(() => nc.close());
    await provisionThreadline(nc);
    const p = new JsPublisher(nc, { timeoutMs: 60_000 });
    onTestFinished(() => p.close());
    const denied = await rejection(p.publish("tl.s1.out.agent.b", bytes("x")));
    expect(denied).toBeInstanceOf(PermissionViolationError);
    expect((await p.publish("tl.s1.out.agent.a", bytes("y"))).seq).toBeGreaterThan(0);
  });
});

/** The state letter of a process (`R`, `S`, `T` stopped, …) from /proc/<pid>/stat (after the `(name)` field). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}
