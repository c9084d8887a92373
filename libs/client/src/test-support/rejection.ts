import { ThreadlineError } from "@threadline/protocol";
import { expect } from "vitest";

/** The ThreadlineError `promise` rejects with (the test fails if it resolves or rejects with anything else). */
export async function rejection(promise: Promise<unknown>): Promise<ThreadlineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ThreadlineError);
  return error as ThreadlineError;
}
