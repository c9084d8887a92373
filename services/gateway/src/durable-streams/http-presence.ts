import { newId } from "@threadline/protocol";
import type { PresenceConnection, PresenceWriter } from "../presence-writer.ts";

/** Who reads a session live over HTTP: the participant and the `Threadline-Device` of the request. */
export interface HttpReader {
  session: string;
  kind: "user" | "operator";
  id: string;
  device: string;
}

interface Held {
  connection: PresenceConnection;
  /** Live reads open now. */
  reads: number;
  linger: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Presence of HTTP readers (PROTOCOL.md §21.10): a device reading a session
 * log live over HTTP (SSE or long-poll, with `Threadline-Device`) is a
 * presence member like a socket attached to it — one presence connection per
 * (session, participant, device) on this gateway, `active` until the device
 * sets another status. A live read ends every SSE lifetime and every
 * long-poll, and the client opens the next one at once, so the entry is kept
 * while any read is open and for `lingerMs` after the last one ended; then it
 * gets its tombstone `closed` (the presence service publishes the leave).
 * The next read after that enters with a new connection id (ids are never
 * reused, §16.2).
 *
 * Bounded by the open live reads (each user has at most
 * `THREADLINE_DS_MAX_LIVE_PER_USER` per gateway) plus entries lingering for
 * at most `lingerMs`.
 */
export class HttpPresence {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly writer: PresenceWriter,
    private readonly lingerMs: number,
  ) {}

  /** A live read of `reader` started; call the returned function when it ends. */
  hold(reader: HttpReader): () => void {
    const key = keyOf(reader);
    let held = this.held.get(key);
    if (held) clearTimeout(held.linger);
    else {
      const connection = { ...reader, connection: `http-${newId()}` };
      held = { connection, reads: 0, linger: undefined };
      this.held.set(key, held);
      this.writer.enter(connection);
    }
    const entry = held;
    entry.reads++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--entry.reads > 0) return;
      entry.linger = setTimeout(() => this.leave(key, entry), this.lingerMs);
      entry.linger.unref?.();
    };
  }

  /**
   * Sets the status (and metadata) of `reader`'s entry, validated by the
   * caller; false when the device holds no live read of the session on this
   * gateway (nor lingers).
   */
  update(reader: HttpReader, status: string, metadata: Record<string, unknown> | undefined): boolean {
    const held = this.held.get(keyOf(reader));
    return held !== undefined && this.writer.update(held.connection, status, metadata);
  }

  /** Entries held (open reads or lingering). */
  get size(): number {
    return this.held.size;
  }

  /** Gateway shutdown: every entry leaves (`closed`) at once. */
  close(): void {
    for (const [key, held] of [...this.held]) {
      clearTimeout(held.linger);
      this.leave(key, held, true);
    }
  }

  private leave(key: string, held: Held, closing = false): void {
    if (this.held.get(key) !== held || (held.reads > 0 && !closing)) return;
    this.held.delete(key);
    this.writer.leave(held.connection, "closed");
  }
}

function keyOf(reader: HttpReader): string {
  return `${reader.session} ${reader.kind} ${reader.id} ${reader.device}`;
}
