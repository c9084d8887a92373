import type { SessionRecord } from "@threadline/protocol";

const dim = (text: string) => `\x1b[2m${text}\x1b[0m`;

/**
 * How the terminal chat prints a session: one line per input, presence or
 * progress event, and each streamed reply on its own line as it grows.
 *
 * A streamed line can be cut by something else — a status line
 * (`[reconnecting…]`), a progress step, or another agent's reply streaming at
 * the same time. The printer then ends the open line first, prints the other
 * thing on its own line, and continues the reply on a new line that repeats
 * its author with `…`, so no line ever mixes two things.
 */
export class ChatPrinter {
  /** The message whose text the current terminal line holds, if it is still open. */
  #open: { ref: string; prefix: string } | undefined;
  /** Author prefix of every message still streaming, by message id. */
  readonly #streaming = new Map<string, string>();

  constructor(private readonly write: (text: string) => void) {}

  /** A line of its own (status, progress…), never inside a streamed reply. */
  line(text: string): void {
    this.#breakOpenLine();
    this.write(`${text}\n`);
  }

  record(record: SessionRecord): void {
    const { event } = record;
    const data = (event.data ?? {}) as Record<string, unknown>;
    const ref = event.ref ?? "";
    switch (event.type) {
      case "input":
        this.line(
          `\n\x1b[1m${event.from.id}${event.from.device ? `@${event.from.device}` : ""}>\x1b[0m ${String(data.text ?? "")}`,
        );
        break;
      case "message.start": {
        // author: { kind, id, name? } (PROTOCOL.md §18)
        const author = (data.author ?? {}) as { id?: unknown; name?: unknown };
        const prefix = `\x1b[36m${String(author.name ?? author.id ?? event.from.id)}:\x1b[0m `;
        this.#streaming.set(ref, prefix);
        this.#breakOpenLine();
        this.write(prefix);
        this.#open = { ref, prefix };
        break;
      }
      case "message.append":
        this.#continue(ref);
        this.write(String(data.delta ?? ""));
        break;
      case "message.end": {
        const status = data.status === "complete" ? "" : ` [${String(data.status)}]`;
        // A reply whose line another one cut ended complete: nothing more to say about it.
        if (this.#open?.ref === ref || status) {
          this.#continue(ref);
          this.write(`${status}\n`);
          this.#open = undefined;
        }
        this.#streaming.delete(ref);
        break;
      }
      case "progress": {
        // { step, label?, status, detail? } (PROTOCOL.md §17)
        const label = String(data.label ?? data.step ?? "");
        const detail = data.detail !== undefined ? ` — ${String(data.detail)}` : "";
        this.line(dim(`[${label}: ${String(data.status ?? "")}${detail}]`));
        break;
      }
      case "presence.join":
      case "presence.update":
      case "presence.leave": {
        const who = `${String(data.name ?? data.id)} (${String(data.kind)})`;
        const what =
          event.type === "presence.join"
            ? "joined"
            : event.type === "presence.leave"
              ? `left: ${String(data.reason)}`
              : `is ${String(data.status)}, ${Array.isArray(data.devices) ? data.devices.length : 0} device(s)`;
        this.line(dim(`[${who} ${what}]`));
        break;
      }
      default:
        this.line(dim(`[${event.type} #${record.seq}]`));
    }
  }

  /** Ends the open streamed line (the reply continues later on a new line). */
  #breakOpenLine(): void {
    if (this.#open) this.write("\n");
    this.#open = undefined;
  }

  /** Makes the current line the one of message `ref`, reopening it with its author if something cut in. */
  #continue(ref: string): void {
    if (this.#open?.ref === ref) return;
    this.#breakOpenLine();
    const prefix = this.#streaming.get(ref) ?? "";
    this.write(`${prefix}${dim("…")}`);
    this.#open = { ref, prefix };
  }
}
