import { applyMessageEvent, emptyMessageState } from "@threadline/protocol";
import type { UIMessage } from "ai";
import type { TurnContext, TurnHistoryOptions } from "../turn-context.ts";

/**
 * The session's conversation so far as AI SDK `UIMessage`s — user inputs and
 * the messages agents wrote, materialized from `ctx.history()` by the
 * protocol's reducer (PROTOCOL.md §18) — ready for `convertToModelMessages`.
 * Messages still streaming (this turn's own, or another turn's running in
 * parallel) are left out; cancelled, interrupted and failed messages keep
 * the parts they had. `limit` bounds the events read (default: the history's).
 * @example
 *   const messages = await convertToModelMessages(await sessionUIMessages(ctx));
 *   streamText({ model, messages, abortSignal });
 */
export async function sessionUIMessages(
  ctx: Pick<TurnContext, "history">,
  options: TurnHistoryOptions = {},
): Promise<UIMessage[]> {
  let state = emptyMessageState();
  for (const record of await ctx.history(options)) state = applyMessageEvent(state, record);
  return state.messages
    .filter((m) => m.status !== "streaming" && m.parts.length > 0)
    .map((m) => ({
      id: m.id,
      role: m.role,
      parts: [...m.parts] as UIMessage["parts"],
      ...(m.metadata === undefined ? {} : { metadata: m.metadata }),
    }));
}
