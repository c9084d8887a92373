import { type BackoffPolicy, backoffDelay, CloseCode, type WelcomeFrame } from "@threadline/protocol";
import { type ConnectionEvents, type FrameConnection, HELLO_ACCEPT } from "./frame-connection.ts";

export interface WebSocketProbeOptions {
  /** Opens a WebSocket to the current gateway with these events (throws when the URL is unusable). */
  open(events: ConnectionEvents): FrameConnection;
  /** The token for the probe's `hello` (the client's token source). */
  token(): Promise<string>;
  device: string;
  /** When to probe: attempt n waits `backoffDelay(n, retry)`. */
  retry: BackoffPolicy;
  /** A probe not welcomed within this long failed (stalled). */
  timeoutMs: number;
  /** A probe was welcomed: the client takes the socket over (it is already bound to nothing else). */
  welcomed(socket: FrameConnection, frame: WelcomeFrame): void;
}

/**
 * `transport: "auto"` on HTTP tries the WebSocket again in the background
 * (PROTOCOL.md §21.10): after a backoff it opens a socket and sends `hello`;
 * a `welcome` hands the socket to the client, which moves every session onto
 * it (each re-attaches from its position, so nothing is missed or repeated).
 * A refused, closed or stalled probe is dropped and the next one scheduled
 * with a longer delay. The HTTP connection keeps serving meanwhile. At most
 * one probe is open at a time.
 */
export class WebSocketProbe {
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private socket: FrameConnection | undefined;
  /** Bumped by `cancel()`, so a probe started before it does nothing. */
  private generation = 0;

  constructor(private readonly options: WebSocketProbeOptions) {}

  /** Schedules the next probe (cancelling a pending one). */
  schedule(): void {
    this.cancel();
    const generation = this.generation;
    this.timer = setTimeout(() => void this.run(generation), backoffDelay(++this.attempt, this.options.retry));
  }

  /** Stops the pending or open probe; the backoff continues from where it was. */
  cancel(): void {
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(CloseCode.NORMAL, "probe cancelled");
  }

  /** The client is on the WebSocket again: the next fallback starts probing from the first delay. */
  resetBackoff(): void {
    this.attempt = 0;
  }

  private async run(generation: number): Promise<void> {
    let token: string;
    try {
      token = await this.options.token();
    } catch {
      if (generation === this.generation) this.schedule();
      return;
    }
    if (generation !== this.generation) return;
    let socket: FrameConnection | undefined;
    const failed = () => {
      if (socket === undefined || socket !== this.socket) return;
      this.schedule();
    };
    try {
      socket = this.options.open({
        open: () =>
          socket?.send({ op: "hello", ...(token ? { token } : {}), device: this.options.device, accept: HELLO_ACCEPT }),
        frame: (frame) => {
          if (frame.op !== "welcome" || socket !== this.socket || socket === undefined) return;
          const adopted = socket;
          this.socket = undefined;
          clearTimeout(this.timer);
          this.timer = undefined;
          this.options.welcomed(adopted, frame);
        },
        close: failed,
      });
    } catch {
      this.schedule();
      return;
    }
    this.socket = socket;
    this.timer = setTimeout(failed, this.options.timeoutMs);
  }
}
