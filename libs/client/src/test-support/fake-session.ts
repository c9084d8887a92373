import type { ClientEvent, SessionEvent, SessionRecord, ThreadlineError } from "@threadline/protocol";
import type { SessionHandle } from "../session-handle.ts";

/**
 * A session handle for the chat adapters' unit tests: `publish` records the
 * event and acks it, the test emits stored events (`emit`, from agent `bot`
 * unless given) and terminal errors (`fail`). Only `id`, `onEvent`, `onError`,
 * `whenSynced` and `publish` exist; one listener of each kind.
 */
export function fakeSession(id = "s1") {
  const published: ClientEvent[] = [];
  let listener: ((record: SessionRecord) => void) | undefined;
  let errorListener: ((error: ThreadlineError) => void) | undefined;
  let seq = 0;
  const session = {
    id,
    onEvent(cb: (record: SessionRecord) => void) {
      listener = cb;
      return () => {
        listener = undefined;
      };
    },
    onError(cb: (error: ThreadlineError) => void) {
      errorListener = cb;
      return () => {
        errorListener = undefined;
      };
    },
    whenSynced: async () => {},
    async publish(event: ClientEvent) {
      published.push(event);
      return { id: event.id ?? `p${published.length}`, seq: ++seq, duplicate: false };
    },
  } as unknown as SessionHandle;
  const emit = (event: Partial<SessionEvent> & { type: string }) =>
    listener?.({
      session: id,
      seq: ++seq,
      event: { id: `e${seq}`, from: { kind: "agent", id: "bot" }, ts: 0, ...event },
    });
  const fail = (error: ThreadlineError) => errorListener?.(error);
  return { session, published, emit, fail };
}
