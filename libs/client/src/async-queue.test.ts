import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue.ts";

async function drain<T>(iterable: AsyncIterable<T>): Promise<{ values: T[]; error?: unknown }> {
  const values: T[] = [];
  try {
    for await (const value of iterable) values.push(value);
  } catch (error) {
    return { values, error };
  }
  return { values };
}

describe("AsyncQueue", () => {
  it("delivers pushed values in order, to a waiting consumer too, then ends", async () => {
    const queue = new AsyncQueue<number>({ highWaterMark: 10, overflow: "fail" });
    queue.push(1);
    const result = drain(queue);
    queue.push(2);
    await Promise.resolve();
    queue.push(3);
    queue.end();
    expect(queue.push(4)).toBe(false);
    expect(await result).toEqual({ values: [1, 2, 3] });
  });

  it('"fail" overflow: delivers what was buffered, then throws the overflow error', async () => {
    let closed = 0;
    const queue = new AsyncQueue<number>({
      highWaterMark: 2,
      overflow: "fail",
      overflowError: () => new Error("too slow"),
      onClose: () => closed++,
    });
    expect([queue.push(1), queue.push(2), queue.push(3), queue.push(4)]).toEqual([true, true, false, false]);
    const { values, error } = await drain(queue);
    expect(values).toEqual([1, 2]);
    expect((error as Error).message).toBe("too slow");
    expect(closed).toBe(1);
  });

  it('"drop-oldest" overflow keeps the newest values', async () => {
    const queue = new AsyncQueue<number>({ highWaterMark: 2, overflow: "drop-oldest" });
    for (const n of [1, 2, 3, 4]) queue.push(n);
    queue.end();
    expect((await drain(queue)).values).toEqual([3, 4]);
  });

  it("fail() wakes a waiting consumer with the error", async () => {
    const queue = new AsyncQueue<number>({ highWaterMark: 2, overflow: "fail" });
    const result = drain(queue);
    await Promise.resolve();
    queue.fail(new Error("gone"));
    const { error } = await result;
    expect((error as Error).message).toBe("gone");
  });

  it("return() (break) closes the queue and calls onClose once", async () => {
    let closed = 0;
    const queue = new AsyncQueue<number>({ highWaterMark: 5, overflow: "fail", onClose: () => closed++ });
    queue.push(1);
    queue.push(2);
    for await (const value of queue) {
      expect(value).toBe(1);
      break;
    }
    expect(queue.open).toBe(false);
    expect(queue.push(3)).toBe(false);
    queue.end();
    expect(closed).toBe(1);
  });

  it("rejects a highWaterMark below 1", () => {
    expect(() => new AsyncQueue({ highWaterMark: 0, overflow: "fail" })).toThrow(RangeError);
  });

  it("keeps order across buffer compaction", async () => {
    const queue = new AsyncQueue<number>({ highWaterMark: 5000, overflow: "fail" });
    const seen: number[] = [];
    for (let i = 0; i < 3000; i++) queue.push(i);
    for (let i = 0; i < 2000; i++) seen.push((await queue.next()).value as number);
    for (let i = 3000; i < 4000; i++) queue.push(i);
    queue.end();
    seen.push(...(await drain(queue)).values);
    expect(seen).toEqual(Array.from({ length: 4000 }, (_, i) => i));
  });
});
