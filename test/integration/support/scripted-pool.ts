import { type Agent, type AgentServer, type ServeAgentOptions, serveAgent } from "@threadline/agent";
import type { SessionHandle } from "@threadline/client";
import { onTestFinished } from "vitest";
import { attachDevices } from "./control-agent.ts";
import { scriptedHandler } from "./control-agent-handler.ts";
import { type Stack, testStack } from "./stack.ts";

// In-process pools running the test agent's scripted handler (control-agent-handler.ts, which the
// worker processes import too and so stays free of test-runner imports).

/** A stack, and a client session handle per device name. */
export type ScriptedSession<D extends string> = { stack: Stack } & Record<D, SessionHandle>;

/**
 * The pool `assistant` (an entry pool) running `scriptedHandler` on the stack's agent; `options`
 * override any of that. Stopped without grace when the test finishes.
 */
export async function serveScripted(
  stack: { agent: Agent },
  options: Partial<ServeAgentOptions> = {},
): Promise<AgentServer> {
  const server = await serveAgent({
    agent: stack.agent,
    name: "assistant",
    entry: true,
    handler: scriptedHandler,
    ...options,
  });
  onTestFinished(() => server.stop({ graceMs: 0 }));
  return server;
}

/**
 * A stack for one test with {@link serveScripted}'s pool, and one client of alice per name in `devices`
 * attached to `session` from the start (in order), under that name.
 */
export async function scriptedSession<const D extends string>(
  session: string,
  devices: readonly D[],
): Promise<ScriptedSession<D>> {
  const stack = await testStack();
  await serveScripted(stack);
  const handles = await attachDevices(stack, session, devices);
  return Object.assign({ stack }, Object.fromEntries(devices.map((d, i) => [d, handles[i]]))) as ScriptedSession<D>;
}
