import type { Limits, ThreadlineError } from "@threadline/protocol";
import type { CursorStore } from "@threadline/store";
import type { Authenticator, Principal } from "./auth.ts";
import type { ControlGate } from "./control-gate.ts";
import type { EventPublisher } from "./event-publisher.ts";
import type { FeedRegistry } from "./feed-registry.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { PresenceWriter } from "./presence-writer.ts";
import type { SessionHistory } from "./session-history.ts";
import type { SessionStateCache } from "./state-cache.ts";
import type { UserLimiter } from "./user-limiter.ts";

/** What every socket of a gateway shares. */
export interface ConnectionContext {
  limits: Limits;
  /** Limits shared by all sockets of a user on this gateway. */
  users: UserLimiter;
  auth: Authenticator;
  feeds: FeedRegistry;
  history: SessionHistory;
  cursors: CursorStore;
  publisher: EventPublisher;
  metrics: GatewayMetrics;
  log: Logger;
  /** Time a backed-up socket may stay above `maxBufferedBytes` before it is closed with 4001. */
  slowTimeoutMs: number;
  /** Live records an attachment buffers during a catch-up. */
  attachmentBuffer: number;
  /** The stream's current epoch (for `published` frames of sessions this socket is not attached to). */
  epoch(): string;
  /** Presence entries of this gateway's attachments (presence-writer.ts). */
  presence: PresenceWriter;
  /** Checks inputs and control events against the control bucket before they are stored (control-gate.ts). */
  control: ControlGate;
  /** Each session's shared state as this gateway sees it: state-op pre-checks and attach snapshots (state-cache.ts). */
  state: SessionStateCache;
}

/**
 * The socket as the frame handlers (auth, attach, publish, presence) see it.
 * Implemented by ClientConnection; `principal` is set once `hello` succeeded,
 * and handlers other than auth only run after that.
 */
export interface ConnectionPort {
  /** Unique per socket (presence connection id, default device suffix). */
  readonly id: string;
  readonly ctx: ConnectionContext;
  readonly closed: boolean;
  readonly principal: Principal | undefined;
  /**
   * The principal of an authenticated socket; throws `INTERNAL` before `hello`
   * succeeded (frame handlers other than auth run only after it).
   */
  authenticated(): Principal;
  readonly device: string;
  sendFrame(frame: object): void;
  /** Sends a typed `error` frame (and counts it in the client error metric). */
  sendError(error: ThreadlineError, rid?: number): void;
  close(code: number, reason: string): void;
}
