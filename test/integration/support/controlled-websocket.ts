import WebSocket from "ws";

/**
 * A WebSocket constructor for the client SDK under test that lets the test
 * misbehave the network: drop the current socket without a close frame,
 * stop reading from it (a frozen tab / slow link), or route reconnects to
 * another gateway.
 */
export interface ControlledWebSocket {
  /** Pass as the client's `WebSocket` option. */
  readonly WebSocket: new (
    url: string | URL,
    protocols?: string | string[],
  ) => WebSocket;
  /** Sockets opened so far. */
  readonly opened: number;
  /** Abruptly drops the current socket (TCP reset, no close frame). */
  drop(): void;
  /** Stops reading from the current socket until `resume()`. */
  pause(): void;
  resume(): void;
  /** Where the next connection goes. */
  route(url: string): void;
}

export function controlledWebSocket(initialUrl?: string): ControlledWebSocket {
  const sockets: WebSocket[] = [];
  let target = initialUrl;
  class Controlled extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(target ?? url, protocols);
      sockets.push(this);
    }
  }
  const current = () => sockets.at(-1);
  return {
    WebSocket: Controlled,
    get opened() {
      return sockets.length;
    },
    drop: () => current()?.terminate(),
    pause: () => current()?.pause(),
    resume: () => current()?.resume(),
    route: (url) => {
      target = url;
    },
  };
}
