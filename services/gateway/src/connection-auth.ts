import {
  CloseCode,
  ErrorCode,
  type HelloFrame,
  OPTIONAL_FRAMES,
  type OptionalFrame,
  PROTOCOL_VERSION,
  ThreadlineError,
} from "@threadline/protocol";
import type { Principal } from "./auth.ts";
import type { ConnectionPort } from "./connection-port.ts";

/** What the socket does around a successful `hello` (ClientConnection implements it: no closures per socket). */
export interface AuthHooks {
  /** A refresh narrowed the grants: end attachments the new token may no longer read (before `welcome`). */
  dropUnreadable(principal: Principal): void;
  /** Handles the frames that arrived while the token was being verified (after `welcome`). */
  flushQueued(): void;
}

/**
 * Authentication state of one socket: the `hello` handshake (token from the
 * frame or the upgrade's `Authorization` header), token refresh (a later
 * `hello` naming the same user), the auth timeout, the expiry timer, and the
 * per-user socket count on this gateway.
 */
export class ConnectionAuth {
  principal: Principal | undefined;
  device = "";
  /** Optional frame kinds this socket's first `hello` accepted and the gateway sends (PROTOCOL.md §7.3). */
  frames: readonly OptionalFrame[] = [];
  /** True while a token is being verified (frames are queued meanwhile). */
  authenticating = false;
  /** The user this socket is counted for in `ctx.users` (set once authenticated). */
  private countedUser: string | undefined;
  /** Until the first `hello` succeeded; then cleared and dropped (an idle socket keeps no timer for it). */
  private authTimer: ReturnType<typeof setTimeout> | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly conn: ConnectionPort,
    /** The upgrade's `Authorization` token, for the first `hello` only: dropped once that succeeded. */
    private upgradeToken: string | undefined,
    private readonly hooks: AuthHooks,
  ) {
    this.authTimer = setTimeout(authTimedOut, conn.ctx.limits.authTimeoutMs, this);
  }

  async hello(frame: HelloFrame): Promise<void> {
    const conn = this.conn;
    const refresh = this.principal !== undefined;
    const token = frame.token ?? (refresh ? undefined : this.upgradeToken);
    if (!token) {
      if (refresh) conn.sendError(new ThreadlineError(ErrorCode.INVALID_FRAME, "hello: a token refresh needs `token`"));
      else
        this.authFailed(
          new ThreadlineError(
            ErrorCode.AUTH_FAILED,
            "no token: send it in hello or as Authorization: Bearer on the upgrade",
          ),
        );
      return;
    }
    this.authenticating = true;
    let principal: Principal;
    try {
      principal = await conn.ctx.auth.verify(token);
    } catch (error) {
      this.authenticating = false;
      const e = error instanceof ThreadlineError ? error : new ThreadlineError(ErrorCode.AUTH_FAILED, "invalid token");
      if (refresh) conn.sendError(e);
      else this.authFailed(e);
      return;
    }
    this.authenticating = false;
    if (conn.closed) return;
    if (refresh && principal.user !== this.principal?.user) {
      conn.sendError(new ThreadlineError(ErrorCode.AUTH_FAILED, "a refreshed token must name the same user"));
      return;
    }
    if (!refresh && !conn.ctx.users.acquireSocket(principal.user)) {
      conn.sendError(
        new ThreadlineError(
          ErrorCode.TOO_MANY_CONNECTIONS,
          `user ${principal.user} already has the maximum number of sockets on this gateway`,
        ),
      );
      conn.close(CloseCode.TOO_MANY_CONNECTIONS, "too many sockets for this user");
      return;
    }
    if (!refresh) this.countedUser = principal.user;
    this.principal = principal;
    if (refresh) this.hooks.dropUnreadable(principal);
    if (!refresh) {
      clearTimeout(this.authTimer);
      this.authTimer = undefined;
      this.upgradeToken = undefined;
      this.device = frame.device ?? `c-${conn.id}`;
      this.frames = negotiateFrames(frame.accept);
    }
    this.scheduleExpiry(principal);
    conn.sendFrame({
      op: "welcome",
      version: PROTOCOL_VERSION,
      user: principal.user,
      kind: principal.kind,
      device: this.device,
      connection: conn.id,
      limits: conn.ctx.limits,
      frames: this.frames,
    });
    this.hooks.flushQueued();
  }

  /** The socket is gone: stops the timers and releases the user's socket count. */
  release(): void {
    if (this.countedUser !== undefined) this.conn.ctx.users.releaseSocket(this.countedUser);
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
  }

  /** Closes the socket when the current token expires (unless a refresh replaced it first). */
  private scheduleExpiry(principal: Principal): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (principal.expiresAt === undefined) return;
    // setTimeout overflows above 2^31-1 ms (~24.8 days): re-check in steps.
    const delay = Math.min(Math.max(0, principal.expiresAt - Date.now()), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(tokenMayHaveExpired, delay, this, principal);
  }

  /** The expiry timer fired for `principal`: close the socket if it is still the current one and expired. */
  expiryDue(principal: Principal): void {
    if (this.principal !== principal) return;
    if (Date.now() < (principal.expiresAt ?? 0)) {
      this.scheduleExpiry(principal);
      return;
    }
    this.conn.sendError(new ThreadlineError(ErrorCode.TOKEN_EXPIRED, "token expired; reconnect with a new token"));
    this.conn.close(CloseCode.TOKEN_EXPIRED, "token expired");
  }

  /** The auth timer fired: close the socket unless a `hello` succeeded meanwhile. */
  authDue(): void {
    if (!this.principal) this.conn.close(CloseCode.AUTH_TIMEOUT, "no hello within the auth timeout");
  }

  /** Refuses the socket's first `hello` for a reason found before verification (e.g. a frame too large). */
  refuse(error: ThreadlineError): void {
    this.authFailed(error);
  }

  private authFailed(error: ThreadlineError): void {
    this.conn.ctx.metrics.authFailures.inc({ code: error.code });
    this.conn.sendError(error);
    const code =
      error.code === ErrorCode.TOKEN_EXPIRED
        ? CloseCode.TOKEN_EXPIRED
        : error.code === ErrorCode.UNAVAILABLE // the key set (JWKS) could not be fetched: retry later
          ? CloseCode.UNAVAILABLE
          : CloseCode.AUTH_FAILED;
    this.conn.close(code, error.message);
  }
}

// Module-level timer callbacks (the socket passed as an argument): a timer costs its Timeout, not a closure and context too.
function authTimedOut(auth: ConnectionAuth): void {
  auth.authDue();
}

function tokenMayHaveExpired(auth: ConnectionAuth, principal: Principal): void {
  auth.expiryDue(principal);
}

/** The optional frame kinds the gateway sends for `hello.accept` (names it does not know are ignored). */
export function negotiateFrames(accept: readonly string[] | undefined): OptionalFrame[] {
  if (accept === undefined) return [];
  return OPTIONAL_FRAMES.filter((name) => accept.includes(name));
}
