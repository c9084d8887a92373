import { afterAll, beforeAll } from "vitest";
import { ControlKv } from "./control-kv.ts";
import { type Stack, startStack } from "./stack.ts";

/** What the control-gateway test files share: one stack, the control bucket, fresh session ids. */
export interface ControlGatewayFixture {
  readonly stack: Stack;
  readonly kv: ControlKv;
  /** A session id not used before in this run: `<prefix>-<pid>-<n>`. */
  session(): string;
}

/**
 * Starts a stack and opens its control bucket before the file's first test; disposes the stack
 * after its last. Read `stack` and `kv` inside tests and hooks.
 */
export function useControlGateway(prefix: string): ControlGatewayFixture {
  let stack: Stack | undefined;
  let kv: ControlKv | undefined;
  let counter = 0;
  beforeAll(async () => {
    stack = await startStack();
    kv = await ControlKv.open(stack.nc);
  });
  afterAll(async () => {
    await stack?.[Symbol.asyncDispose]();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the control gateway stack is not started (use it inside a test)");
    return value;
  };
  return {
    get stack() {
      return started(stack);
    },
    get kv() {
      return started(kv);
    },
    session: () => `${prefix}-${process.pid}-${++counter}`,
  };
}
