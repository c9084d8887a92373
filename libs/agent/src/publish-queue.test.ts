import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { PublishQueue } from "./publish-queue.ts";

/** A task the test completes by hand, recording when it started. */
function manualTask(log: string[], name: string) {
  let finish!: (value: string) => void;
  let fail!: (error: Error) => void;
  const task = () => {
    log.push(name);
    return new Promise<string>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
  };
  return { task, finish: () => finish(name), fail: (e: Error) => fail(e) };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("PublishQueue", () => {
  it("runs at most maxInFlight tasks at once, the rest wait in FIFO order", async () => {
    const q = new PublishQueue({ maxInFlight: 2, maxWaiting: 10, maxPendingBytes: 1e9 });
    const started: string[] = [];
    const tasks = ["a", "b", "c", "d"].map((k) => manualTask(started, k));
    const results = tasks.map((t, i) => q.run(`s${i}`, 1, t.task));
    await settle();
    expect(started).toEqual(["a", "b"]);
    expect({ inFlight: q.inFlight, waiting: q.waiting }).toEqual({ inFlight: 2, waiting: 2 });
    tasks[1]?.finish();
    await settle();
    expect(started).toEqual(["a", "b", "c"]);
    tasks[0]?.finish();
    tasks[2]?.finish();
    await settle();
    tasks[3]?.finish();
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d"]);
    expect({ inFlight: q.inFlight, waiting: q.waiting, keys: q.keys }).toEqual({ inFlight: 0, waiting: 0, keys: 0 });
  });

  it("runs one task per key at a time, in call order, even when an earlier one fails", async () => {
    const q = new PublishQueue({ maxInFlight: 8, maxWaiting: 10, maxPendingBytes: 1e9 });
    const started: string[] = [];
    const a1 = manualTask(started, "a1");
    const a2 = manualTask(started, "a2");
    const b1 = manualTask(started, "b1");
    const r1 = q.run("a", 1, a1.task);
    const r2 = q.run("a", 1, a2.task);
    const r3 = q.run("b", 1, b1.task);
    await settle();
    expect(started).toEqual(["a1", "b1"]); // a2 waits for a1 although slots are free
    a1.fail(new Error("boom"));
    await expect(r1).rejects.toThrow("boom");
    await settle();
    expect(started).toEqual(["a1", "b1", "a2"]);
    a2.finish();
    b1.finish();
    expect(await Promise.all([r2, r3])).toEqual(["a2", "b1"]);
  });

  it("refuses past maxInFlight + maxWaiting with a retryable TOO_MANY_PENDING, and accepts again once drained", async () => {
    const q = new PublishQueue({ maxInFlight: 2, maxWaiting: 3, maxPendingBytes: 1e9 });
    const started: string[] = [];
    const tasks = Array.from({ length: 5 }, (_, i) => manualTask(started, `t${i}`));
    // Regression: a synchronous burst once counted a starting task as both running and waiting, refusing early.
    const accepted = tasks.map((t, i) => q.run(`k${i % 2}`, 1, t.task));
    await settle();
    expect({ inFlight: q.inFlight, waiting: q.waiting }).toEqual({ inFlight: 2, waiting: 3 });
    const refused = await q.run("k9", 1, async () => "never").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ThreadlineError);
    expect(refused).toMatchObject({ code: ErrorCode.TOO_MANY_PENDING, retryable: true });
    for (const t of tasks) {
      await settle();
      t.finish(); // throws if the task has not started: each must start once its predecessors finished
    }
    await Promise.all(accepted);
    await expect(q.run("k9", 1, async () => "ok")).resolves.toBe("ok");
  });

  it("bounds pending bytes but always admits a task when nothing is pending", async () => {
    const q = new PublishQueue({ maxInFlight: 4, maxWaiting: 100, maxPendingBytes: 100 });
    const started: string[] = [];
    const big = manualTask(started, "big");
    const first = q.run("a", 500, big.task); // larger than the limit, admitted because the queue is empty
    await expect(q.run("b", 1, async () => "x")).rejects.toMatchObject({ code: ErrorCode.TOO_MANY_PENDING });
    big.finish();
    await first;
    const small = [q.run("a", 60, async () => 1), q.run("b", 40, async () => 2)];
    await expect(q.run("c", 1, async () => 3)).rejects.toMatchObject({ code: ErrorCode.TOO_MANY_PENDING });
    expect(await Promise.all(small)).toEqual([1, 2]);
  });

  it("idle() resolves once everything settled", async () => {
    const q = new PublishQueue({ maxInFlight: 1, maxWaiting: 10, maxPendingBytes: 1e9 });
    const started: string[] = [];
    const a = manualTask(started, "a");
    const b = manualTask(started, "b");
    const ra = q.run("s", 1, a.task);
    const rb = q.run("s", 1, b.task);
    let idle = false;
    const waiting = q.idle().then(() => {
      idle = true;
    });
    await settle();
    a.finish();
    await ra;
    await settle();
    expect(idle).toBe(false);
    b.finish();
    await rb;
    await waiting;
    expect(idle).toBe(true);
  });

  it("rejects invalid limits", () => {
    expect(() => new PublishQueue({ maxInFlight: 0, maxWaiting: 1, maxPendingBytes: 1 })).toThrow(RangeError);
    expect(() => new PublishQueue({ maxInFlight: 1, maxWaiting: -1, maxPendingBytes: 1 })).toThrow(RangeError);
  });
});
