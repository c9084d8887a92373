import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { DeadLetters } from "./dead-letters.ts";
import { PushStoreError } from "./push-errors.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

describe("DeadLetters on nats-server", () => {
  const nats = useProvisionedNats();

  it("records, reads and lists dead letters by claim key; the error text is bounded", async () => {
    const letters = new DeadLetters<{ id: string }>(await new Kvm(nats.nc).open("threadline-notify"));
    const key = "n.e1.s1.5.u1.hook";
    await letters.record(key, {
      payload: { id: "n.e1.s1.5.u1" },
      url: "https://app.example/hook",
      attempts: 8,
      lastStatus: 503,
      lastError: "x".repeat(2000),
      at: 1234,
    });
    const letter = await letters.get(key);
    expect(letter).toMatchObject({ payload: { id: "n.e1.s1.5.u1" }, attempts: 8, lastStatus: 503, at: 1234 });
    expect(letter?.lastError).toHaveLength(512);
    expect(await letters.list()).toEqual([key]);
    expect(await letters.get("n.e1.s1.6.u1.hook")).toBeUndefined();
    await expect(letters.record("not a key", { payload: { id: "x" }, url: "u", attempts: 1, at: 1 })).rejects.toThrow(
      PushStoreError,
    );
  });
});
