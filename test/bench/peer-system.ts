import type { ResumeRead } from "./resume.ts";

/**
 * How a system keeps what it delivers, printed and put in the JSON beside
 * every number so the comparison is fair.
 */
export interface Durability {
  /** Where events live between write and read. */
  storage: "file" | "memory" | "none";
  /** When a write reaches stable storage (fsync), in words. */
  fsync: string;
  /** Whether the events survive a crash of the serving process. */
  survivesProcessCrash: boolean;
  /** Whether a reader can resume from a position after a disconnect. */
  resumable: boolean;
}

/**
 * `subject`: Threadline. `durable-peer`: a peer with storage and resume, the
 * ones the ratios compare against. `floor`: plain SSE without storage, the
 * lower bound of what streaming costs, in the tables but not in the ratios.
 */
export type PeerRole = "subject" | "durable-peer" | "floor";

/** A system the `peers` scenario measures: one file per adapter (peer-threadline.ts, …). */
export interface PeerSystem {
  name: string;
  role: PeerRole;
  durability: Durability;
  /** Starts its server processes (and whatever they need: Redis, nats-server). */
  start(): Promise<RunningPeer>;
}

/** A stream filled for the resume workload. */
export interface FilledStream {
  /**
   * The stream's positions in order, one per event: what a reader reports for
   * it (Threadline: the seq; the peers: n + 1). Position 0 is "before the first".
   */
  positions: number[];
  /** One resume from `position` (0 or an element of `positions`), through a fresh connection, until caught up. */
  read(position: number): Promise<ResumeRead>;
}

/** What a writer stored, per stream: positions in the order they were acknowledged. */
export interface WriteReport {
  stored: number[][];
  /** Events the writer generated but could not store (refused, failed, or unacknowledged at the end). */
  unstored: number;
  /** What the writer says about itself (failures, lag, its own latency). */
  notes: string[];
}

/** An open live reader. */
export interface PeerReader {
  readonly isOpen: boolean;
  close(): Promise<void> | void;
}

/** A reader's receipt: the event's position, the writer's send time (wall clock ms) and the arrival time. */
export type OnPeerEvent = (position: number, sentAt: number | undefined, receivedAt: number) => void;

/** A started system. Every method is called from the bench process; the servers run in their own processes. */
export interface RunningPeer {
  /** The server-side processes whose CPU and RSS count for this system. */
  readonly processes: { name: string; pid: number }[];
  /** The writer's own process when it has one (an agent, an HTTP client), watched during the live workload. */
  readonly writerPid: number | undefined;
  /** Versions and settings of what runs, for the report. */
  readonly description: string;
  /** Fills one stream with `count` resume events (resumeEventJson / Threadline's fill) for the resume workload. */
  fill(count: number): Promise<FilledStream>;
  /** Creates empty streams (and what readers need: tokens) for the live and memory workloads. */
  createStreams(names: string[]): Promise<void>;
  /** Opens a reader following `stream` from now; resolves once the server has registered it. */
  openReader(stream: string, onEvent: OnPeerEvent): Promise<PeerReader>;
  /**
   * Optional, for a system with a storage step between writer and readers:
   * when each of `positions[i]` of `streams[i]` was stored (wall clock ms,
   * comparable with the writer's and readers' times), so the live workload
   * can split its latency at the store (peer-stages.ts). Threadline: the
   * stored timestamp nats-server keeps with each message.
   */
  storedAt?(streams: string[], positions: number[][]): Promise<Map<number, number>[]>;
  /** Writes `ratePerStream` live events per second into each stream for `durationMs`, evenly spread. */
  write(streams: string[], ratePerStream: number, durationMs: number): Promise<WriteReport>;
  stop(): Promise<void>;
}
