import type { WebSocketLike } from "@threadline/client";

/** Close code reported when the browser went offline: 1006 (abnormal closure), which the client retries. */
const ABNORMAL = 1006;
const CLOSED = 3;

type Handler<E> = ((event: E) => void) | null;

/**
 * The browser's WebSocket, closed as soon as the browser reports that it went
 * offline (the `offline` event) and refused while `navigator.onLine` is false.
 * A real network loss can leave a socket looking open until a ping times out
 * (and Chromium's offline emulation does not touch open sockets at all); this
 * turns it into an immediate close, so the client SDK shows `reconnecting`
 * and resumes from its exact position as soon as the network is back.
 * Passed to `createClient({ WebSocket })`.
 */
export class NetworkAwareWebSocket implements WebSocketLike {
  onopen: Handler<unknown> = null;
  onmessage: Handler<{ data: unknown }> = null;
  onclose: Handler<{ code: number; reason: string }> = null;
  onerror: Handler<unknown> = null;
  private readonly ws: WebSocket;
  private done = false;
  private readonly onOffline = () => {
    try {
      this.ws.close();
    } catch {
      // Already closing.
    }
    this.finish(ABNORMAL, "the browser went offline");
  };

  constructor(url: string, protocols?: string | string[]) {
    this.ws = new WebSocket(url, protocols);
    this.ws.onopen = (e) => {
      if (!this.done) this.onopen?.(e);
    };
    this.ws.onmessage = (e) => {
      if (!this.done) this.onmessage?.(e);
    };
    this.ws.onerror = (e) => {
      if (!this.done) this.onerror?.(e);
    };
    this.ws.onclose = (e) => this.finish(e.code, e.reason);
    window.addEventListener("offline", this.onOffline);
    if (!navigator.onLine) queueMicrotask(this.onOffline);
  }

  get binaryType(): string {
    return this.ws.binaryType;
  }

  set binaryType(value: string) {
    this.ws.binaryType = value as BinaryType;
  }

  get readyState(): number {
    return this.done ? CLOSED : this.ws.readyState;
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data as string | ArrayBufferView<ArrayBuffer>);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    window.removeEventListener("offline", this.onOffline);
    this.onclose?.({ code, reason });
  }
}
