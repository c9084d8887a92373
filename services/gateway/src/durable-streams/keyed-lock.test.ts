import { expect, test } from "vitest";
import { KeyedLock } from "./keyed-lock.ts";

test("tasks of one key run one at a time, in order; other keys do not wait; idle keys are forgotten", async () => {
  const lock = new KeyedLock();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const first = lock.run("a", async () => {
    log.push("a1 start");
    await gate;
    log.push("a1 end");
  });
  const second = lock.run("a", async () => {
    log.push("a2");
  });
  await lock.run("b", async () => {
    log.push("b");
  });
  expect(log).toEqual(["a1 start", "b"]);
  release();
  await Promise.all([first, second]);
  expect(log).toEqual(["a1 start", "b", "a1 end", "a2"]);
  await Promise.resolve();
  expect(lock.size).toBe(0);
});

test("a failed task does not block the next one", async () => {
  const lock = new KeyedLock();
  await expect(lock.run("a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  await expect(lock.run("a", async () => 1)).resolves.toBe(1);
});
