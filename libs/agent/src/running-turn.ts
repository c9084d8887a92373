import { ControlEventType, ErrorCode, type Participant, ThreadlineError } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";

/** A steer message for a running turn. */
export interface Steer {
  text: string;
  /** Who sent it (the gateway stamps it from the token). */
  from: Participant;
  /** The steer event's id and stream seq. */
  id: string;
  seq: number;
}

/** Steer messages buffered for a handler that does not read them; past it the oldest is dropped. */
export const MAX_BUFFERED_STEERS = 256;

/**
 * The live-control side of one turn running in this process: the abort
 * controller behind `ctx.signal`, the steer buffer behind `ctx.steering`, and
 * the answers awaited by `callClientTool` / `requestApproval`. The worker's
 * control feed hands it every control event of the turn's session
 * ({@link RunningTurn.dispatch}); it picks what concerns it.
 */
export class RunningTurn {
  readonly controller = new AbortController();
  private readonly steers: Steer[] = [];
  private steerWaiter: (() => void) | undefined;
  private ended = false;
  private readonly calls = new Map<string, (record: SubjectRecord) => void>();

  constructor(
    readonly session: string,
    readonly turn: string,
    /** Root first, parent last: a cancel of any of them cancels this turn. */
    readonly ancestors: readonly string[],
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether a cancel for `target` stops this turn (it is the turn or one of its ancestors). */
  cancelledBy(target: string | undefined): boolean {
    return target !== undefined && (target === this.turn || this.ancestors.includes(target));
  }

  /** Applies one control event of this turn's session. */
  dispatch(record: SubjectRecord): void {
    const e = record.event;
    switch (e.type) {
      case ControlEventType.CANCEL:
        if (this.cancelledBy(e.turn)) this.abort(cancelReason(record));
        return;
      case ControlEventType.STEER: {
        const text = (e.data as { text?: unknown } | undefined)?.text;
        if (e.turn === this.turn && typeof text === "string") {
          this.pushSteer({ text, from: e.from, id: e.id, seq: record.seq });
        }
        return;
      }
      case ControlEventType.TOOL_RESULT:
      case ControlEventType.APPROVAL:
        if (e.ref !== undefined) this.calls.get(e.ref)?.(record);
        return;
    }
  }

  abort(reason: ThreadlineError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Waits for the first answer to `call` (a `tool.result` / `approval` event with `ref` = call). */
  awaitAnswer(call: string, onAnswer: (record: SubjectRecord) => void): () => void {
    this.calls.set(call, onAnswer);
    return () => {
      if (this.calls.get(call) === onAnswer) this.calls.delete(call);
    };
  }

  /** Buffered steers, removed from the buffer (for handlers that poll between steps). */
  takeSteers(): Steer[] {
    return this.steers.splice(0);
  }

  /** Steers as they arrive, until the turn ends (buffered ones first). */
  async *steering(): AsyncGenerator<Steer> {
    while (true) {
      const next = this.steers.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.steerWaiter = resolve;
      });
    }
  }

  /** The turn is over: iterators end, pending calls are dropped. */
  end(): void {
    this.ended = true;
    this.calls.clear();
    this.wake();
  }

  private pushSteer(steer: Steer): void {
    if (this.ended) return;
    this.steers.push(steer);
    if (this.steers.length > MAX_BUFFERED_STEERS) this.steers.shift();
    this.wake();
  }

  private wake(): void {
    const waiter = this.steerWaiter;
    this.steerWaiter = undefined;
    waiter?.();
  }
}

/** The abort reason of a cancelled turn: `TURN_ENDED`, naming who cancelled it and why. */
export function cancelReason(record: SubjectRecord): ThreadlineError {
  const e = record.event;
  const reason = (e.data as { reason?: unknown } | undefined)?.reason;
  return new ThreadlineError(
    ErrorCode.TURN_ENDED,
    `turn ${e.turn} was cancelled by ${e.from.kind} ${e.from.id}${typeof reason === "string" ? `: ${reason}` : ""}`,
    { session: record.session, retryable: false },
  );
}
