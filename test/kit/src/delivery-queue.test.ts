import { describe, expect, test } from "vitest";
import { DeliveryQueue } from "./delivery-queue.ts";

describe("DeliveryQueue", () => {
  test("next() hands out records already there and later ones, each once, in arrival order", async () => {
    const queue = new DeliveryQueue<number>("q");
    queue.push(1);
    const even = queue.next((n) => n % 2 === 0);
    queue.push(3);
    queue.push(4);
    expect(await even).toBe(4);
    expect(await queue.next()).toBe(1);
    expect(await queue.next()).toBe(3);
    expect(queue.all()).toEqual([1, 3, 4]);
    await expect(queue.next(() => true, 20)).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  test("a record goes to one waiter only; close() rejects the rest with STOPPED", async () => {
    const queue = new DeliveryQueue<string>("q");
    const first = queue.next();
    const second = queue.next();
    queue.push("a");
    expect(await first).toBe("a");
    queue.close();
    await expect(second).rejects.toMatchObject({ code: "STOPPED" });
    await expect(queue.next()).rejects.toMatchObject({ code: "STOPPED" });
  });
});
