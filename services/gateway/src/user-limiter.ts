import { Counter, Gauge, type Registry } from "prom-client";
import { TokenBucket } from "./token-bucket.ts";

/** Limits shared by all sockets of one user on one gateway. */
export interface UserLimits {
  /** Sockets one user may hold open on this gateway. Above: `TOO_MANY_CONNECTIONS`, close 4005. */
  maxSocketsPerUser: number;
  /** Sustained events per second one user may publish across all its sockets. Above: `RATE_LIMITED`. */
  userEventsPerSecond: number;
  /** Burst of the per-user event bucket. */
  userEventBurst: number;
}

interface UserState {
  sockets: number;
  /** Created by the user's first publish (most users only read); starts full, as it would have been. */
  events: TokenBucket | undefined;
}

/**
 * Per-user accounting across a gateway's sockets. An entry exists only while
 * the user has at least one authenticated socket here, so the map is bounded
 * by the number of open sockets (each of which is bounded by the WebSocket
 * layer); the per-user bucket restarts full when a user's last socket closes.
 * Limits are per gateway replica: N replicas allow N times the figures.
 */
export class UserLimiter {
  private readonly users = new Map<string, UserState>();
  private readonly hits: Counter<"limit">;
  private readonly tracked: Gauge;

  constructor(
    private readonly limits: UserLimits,
    registry: Registry,
    private readonly now?: () => number,
  ) {
    this.hits = new Counter({
      name: "threadline_gateway_user_limit_hits_total",
      help: "Requests refused by a per-user limit (sockets per user, events/s per user)",
      labelNames: ["limit"],
      registers: [registry],
    });
    this.tracked = new Gauge({
      name: "threadline_gateway_users",
      help: "Users with at least one authenticated socket on this gateway",
      registers: [registry],
    });
  }

  /** Registers one more socket of `user`; false (and nothing registered) when the user is at the limit. */
  acquireSocket(user: string): boolean {
    let state = this.users.get(user);
    if (state && state.sockets >= this.limits.maxSocketsPerUser) {
      this.hits.inc({ limit: "sockets" });
      return false;
    }
    if (!state) {
      state = { sockets: 0, events: undefined };
      this.users.set(user, state);
      this.tracked.set(this.users.size);
    }
    state.sockets++;
    return true;
  }

  /** Releases a socket registered with `acquireSocket`. */
  releaseSocket(user: string): void {
    const state = this.users.get(user);
    if (!state) return;
    if (--state.sockets <= 0) {
      this.users.delete(user);
      this.tracked.set(this.users.size);
    }
  }

  /** Takes one event from the user's shared bucket; false when the user publishes too fast. */
  takeEvent(user: string): boolean {
    const state = this.users.get(user);
    if (!state) return true;
    state.events ??= new TokenBucket(this.limits.userEventsPerSecond, this.limits.userEventBurst, this.now);
    if (state.events.take()) return true;
    this.hits.inc({ limit: "events" });
    return false;
  }

  /** Open sockets of `user` on this gateway. */
  socketsOf(user: string): number {
    return this.users.get(user)?.sockets ?? 0;
  }
}
