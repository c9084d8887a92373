import { describe, expect, it } from "vitest";
import {
  forgetPosition,
  memoryStorage,
  type PositionStorage,
  readPosition,
  type StorageLike,
  webStorage,
  writePosition,
} from "./position-storage.ts";

class MapStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

describe("memoryStorage", () => {
  it("stores, overwrites and forgets positions per session", async () => {
    const storage = memoryStorage();
    expect(await storage.get("a")).toBeUndefined();
    storage.set("a", { epoch: "e1", seq: 3 });
    storage.set("b", { epoch: "e1", seq: 9 });
    storage.set("a", { epoch: "e1", seq: 5 });
    expect(await storage.get("a")).toEqual({ epoch: "e1", seq: 5 });
    expect(await storage.get("b")).toEqual({ epoch: "e1", seq: 9 });
    await storage.delete?.("a");
    expect(await storage.get("a")).toBeUndefined();
  });

  it("returns copies, so callers cannot mutate what is stored", async () => {
    const storage = memoryStorage();
    const position = { epoch: "e1", seq: 3 };
    storage.set("a", position);
    position.seq = 100;
    const read = await storage.get("a");
    if (read) read.seq = 200;
    expect(await storage.get("a")).toEqual({ epoch: "e1", seq: 3 });
  });
});

describe("webStorage", () => {
  it("writes JSON under the prefix and reads it back", () => {
    const area = new MapStorage();
    const storage = webStorage(area, "tl:");
    storage.set("s1", { epoch: "e1", seq: 42 });
    expect(area.items.get("tl:s1")).toBe('{"epoch":"e1","seq":42}');
    expect(storage.get("s1")).toEqual({ epoch: "e1", seq: 42 });
    storage.delete?.("s1");
    expect(area.items.has("tl:s1")).toBe(false);
  });

  it('uses the "threadline:" prefix by default', () => {
    const area = new MapStorage();
    webStorage(area).set("s1", { epoch: "e", seq: 1 });
    expect([...area.items.keys()]).toEqual(["threadline:s1"]);
  });

  it.each([["not json"], ['{"epoch":"","seq":1}'], ['{"epoch":"e","seq":-1}'], ['{"epoch":"e","seq":1.5}'], ["null"]])(
    "reads the invalid value %s as undefined",
    (raw) => {
      const area = new MapStorage();
      area.setItem("threadline:s1", raw);
      expect(webStorage(area).get("s1")).toBeUndefined();
    },
  );
});

describe("tolerant access", () => {
  const broken: PositionStorage = {
    get: () => {
      throw new Error("SecurityError");
    },
    set: () => Promise.reject(new Error("QuotaExceededError")),
    delete: () => {
      throw new Error("nope");
    },
  };

  it("reads a failing storage as no position and ignores failed writes", async () => {
    expect(await readPosition(broken, "s")).toBeUndefined();
    await expect(writePosition(broken, "s", { epoch: "e", seq: 1 })).resolves.toBeUndefined();
    await expect(forgetPosition(broken, "s")).resolves.toBeUndefined();
  });

  it("reads a value that is not a position as undefined", async () => {
    const odd: PositionStorage = { get: async () => ({ epoch: 5, seq: "x" }) as never, set: () => {} };
    expect(await readPosition(odd, "s")).toBeUndefined();
  });
});
