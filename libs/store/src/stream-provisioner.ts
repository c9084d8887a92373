import {
  DiscardPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
  type StreamUpdateConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import {
  DEFAULT_LIVE_PREFIX,
  DEFAULT_PRESENCE_BUCKET,
  DEFAULT_STREAM_NAME,
  DEFAULT_SUBJECT_PREFIX,
  ErrorCode,
  epochFromStreamCreated,
  Subjects,
  ThreadlineError,
} from "@threadline/protocol";
import { JsErrCode, jsApiErrorCode } from "./nats-errors.ts";
import { whilePlacing } from "./placement.ts";

/** Where the Threadline stream lives: its name and subject prefixes. */
export interface StreamNames {
  /** Stream name. Default `"THREADLINE"`. */
  stream?: string;
  /** Subject prefix of stored events (`<prefix>.<session>.<lane>.<kind>.<id>`). Default `"tl"`. */
  prefix?: string;
  /** Prefix of the republished live subjects (`<livePrefix>.<prefix>.…`). Default `"live"`. */
  livePrefix?: string;
}

/** Options of {@link provisionThreadline}; every field is optional. */
export interface ProvisionOptions extends StreamNames {
  /** Stream (and cursor bucket) replicas: 1 locally, 3 in production clusters. Default 1. */
  replicas?: number;
  /** Maximum age of stored events in milliseconds; 0 = unlimited. Default 30 days. */
  maxAge?: number;
  /** Maximum stream size in bytes (oldest events are discarded above it); -1 = unlimited. Default -1. */
  maxBytes?: number;
  /** Largest stored message (encoded event + headers) in bytes; -1 = unlimited (the server's max payload still applies). Default 1 MiB. */
  maxMsgSize?: number;
  /** Window in which a re-published event id is deduplicated by the server, ms. Default 120000 (2 min). */
  duplicateWindowMs?: number;
  /** KV bucket holding per-device cursors. Default `"threadline-cursors"`. */
  cursorBucket?: string;
  /** KV bucket holding presence entries (history 1). Default `"threadline-presence"`. */
  presenceBucket?: string;
  /**
   * Bucket TTL of the presence bucket, ms: garbage collection of entries nobody
   * refreshed or removed (tombstones, writers that died with no presence
   * service running). Must exceed every writer's heartbeat interval. Default 1 hour.
   */
  presenceTtlMs?: number;
  /**
   * KV bucket holding live-control state (turns, client calls, session
   * owner; history 1, written with create/CAS by gateways and workers).
   * Keys expire with the stream's `maxAge`. Default `"threadline-control"`.
   */
  controlBucket?: string;
  /**
   * KV bucket holding Web Push subscriptions and notification preferences
   * per user (`<user>.<subscription id>`, `<user>._prefs`; history 1, no
   * TTL: a subscription lives until it is unregistered, evicted or the push
   * service answers 404/410). Default `"threadline-push"`.
   */
  pushBucket?: string;
  /** KV bucket of the notifier's claim ledger (one key per trigger; history 1). Default `"threadline-notify"`. */
  notifyBucket?: string;
  /**
   * Bucket TTL of the notify bucket, ms: how long a trigger's outcome is
   * remembered (a trigger redelivered later would be notified again, so the
   * notifier ignores older triggers). Default 24 hours.
   */
  notifyTtlMs?: number;
  /**
   * KV bucket of the gateway's data-stream records (Durable Streams over HTTP,
   * PROTOCOL.md §21.3; key = stream id; history 1, no TTL: a stream's own
   * TTL is in its record). Default `"threadline-streams"`.
   */
  streamsBucket?: string;
}

export const PROVISION_DEFAULTS: Readonly<Required<ProvisionOptions>> = Object.freeze({
  stream: DEFAULT_STREAM_NAME,
  prefix: DEFAULT_SUBJECT_PREFIX,
  livePrefix: DEFAULT_LIVE_PREFIX,
  replicas: 1,
  maxAge: 30 * 24 * 60 * 60 * 1000,
  maxBytes: -1,
  maxMsgSize: 1024 * 1024,
  duplicateWindowMs: 120_000,
  cursorBucket: "threadline-cursors",
  presenceBucket: DEFAULT_PRESENCE_BUCKET,
  presenceTtlMs: 60 * 60 * 1000,
  controlBucket: "threadline-control",
  pushBucket: "threadline-push",
  notifyBucket: "threadline-notify",
  notifyTtlMs: 24 * 60 * 60 * 1000,
  streamsBucket: "threadline-streams",
});

/** The provisioned (or looked-up) stream, as the agent and the gateway need it. */
export interface ThreadlineStreamInfo {
  stream: string;
  /** `epochFromStreamCreated(info.created)`: changes when the stream is recreated. */
  epoch: string;
  subjects: Subjects;
  /** The stream's configuration as the server reported it. */
  config: StreamConfig;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
/** Rounds of read → create/update before giving up on a stream that keeps changing under us. */
const PROVISION_ROUNDS = 5;

/**
 * Creates or updates the Threadline stream and its KV buckets (cursors, presence, control, push, notify) so that
 * they match `options`; safe to call from every process at start-up, in
 * parallel. The stream: file storage, limits retention, discard old,
 * `allow_direct`, subjects `[<prefix>.>]` and republish
 * `<prefix>.>` → `<livePrefix>.<prefix>.>` (the gateway's live feed).
 *
 * An existing stream keeps its data: differing mutable limits (max age,
 * bytes, message size, duplicate window, replicas, direct access, discard)
 * are updated. A stream that cannot serve Threadline — its subjects do not
 * include `<prefix>.>`, another retention or storage, or a different
 * republish (which nats-server 2.9 cannot change on an existing stream) —
 * makes this throw `ThreadlineError(UNAVAILABLE)` naming the conflict; it is
 * never deleted or recreated automatically.
 *
 * @example
 *   const info = await provisionThreadline(nc, { replicas: 3 });
 *   info.subjects.session("s1"); // "tl.s1.>"
 */
export async function provisionThreadline(
  nc: NatsConnection,
  options: ProvisionOptions = {},
): Promise<ThreadlineStreamInfo> {
  const o = resolveProvisionOptions(options);
  const subjects = new Subjects(o.prefix, o.livePrefix);
  const desired = desiredStreamConfig(o, subjects);
  const jsm = await jetstreamManager(nc);
  const info = await ensureStream(jsm, desired, subjects);
  await ensureBuckets(nc, o);
  return toThreadlineInfo(info, subjects);
}

/**
 * Reads an existing Threadline stream without changing anything, and checks
 * it can serve Threadline (subjects and republish). Throws
 * `ThreadlineError(UNAVAILABLE)` when it is missing or incompatible.
 */
export async function lookupThreadline(nc: NatsConnection, names: StreamNames = {}): Promise<ThreadlineStreamInfo> {
  const o = resolveProvisionOptions(names);
  const subjects = new Subjects(o.prefix, o.livePrefix);
  const jsm = await jetstreamManager(nc);
  const info = await readStream(jsm, o.stream);
  if (!info) {
    throw new ThreadlineError(
      ErrorCode.UNAVAILABLE,
      `stream ${o.stream} does not exist; provision it first (provisionThreadline or the gateway)`,
    );
  }
  const problem = functionalProblem(info.config, subjects);
  if (problem) throw incompatible(o.stream, problem);
  return toThreadlineInfo(info, subjects);
}

/** Validates options and fills defaults. Throws TypeError/RangeError on invalid options. */
export function resolveProvisionOptions(options: ProvisionOptions): Required<ProvisionOptions> {
  const o: Required<ProvisionOptions> = { ...PROVISION_DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (o as Record<string, unknown>)[key] = value;
  }
  for (const key of [
    "stream",
    "prefix",
    "livePrefix",
    "cursorBucket",
    "presenceBucket",
    "controlBucket",
    "pushBucket",
    "notifyBucket",
    "streamsBucket",
  ] as const) {
    const value = o[key];
    if (typeof value !== "string" || value.length > 255 || !TOKEN.test(value)) {
      throw new TypeError(`${key} must be 1-255 characters of [A-Za-z0-9_-], got ${JSON.stringify(value)}`);
    }
  }
  if (o.prefix === o.livePrefix) throw new TypeError("prefix and livePrefix must differ");
  integerIn("replicas", o.replicas, 1, 5);
  integerIn("maxAge", o.maxAge, 0, Number.MAX_SAFE_INTEGER / 1e6);
  if (o.maxBytes !== -1) integerIn("maxBytes", o.maxBytes, 1, Number.MAX_SAFE_INTEGER);
  if (o.maxMsgSize !== -1) integerIn("maxMsgSize", o.maxMsgSize, 1, 2 ** 31 - 1);
  integerIn("presenceTtlMs", o.presenceTtlMs, 1000, Number.MAX_SAFE_INTEGER / 1e6);
  integerIn("notifyTtlMs", o.notifyTtlMs, 1000, Number.MAX_SAFE_INTEGER / 1e6);
  integerIn("duplicateWindowMs", o.duplicateWindowMs, 1, Number.MAX_SAFE_INTEGER / 1e6);
  if (o.maxAge > 0 && o.duplicateWindowMs > o.maxAge) {
    throw new RangeError(`duplicateWindowMs (${o.duplicateWindowMs}) must not exceed maxAge (${o.maxAge})`);
  }
  return o;
}

function integerIn(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
}

function desiredStreamConfig(o: Required<ProvisionOptions>, subjects: Subjects): StreamConfig {
  return {
    name: o.stream,
    subjects: [subjects.all()],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(o.maxAge),
    max_bytes: o.maxBytes,
    max_msg_size: o.maxMsgSize,
    max_msgs: -1,
    max_msgs_per_subject: -1,
    duplicate_window: nanos(o.duplicateWindowMs),
    num_replicas: o.replicas,
    allow_direct: true,
    republish: { src: subjects.all(), dest: subjects.liveAll() },
  } as StreamConfig;
}

/** The fields provisioning keeps in line with the options on an existing stream. */
const MUTABLE_FIELDS = [
  "max_age",
  "max_bytes",
  "max_msg_size",
  "duplicate_window",
  "num_replicas",
  "allow_direct",
  "discard",
] as const satisfies readonly (keyof StreamUpdateConfig)[];

async function ensureStream(jsm: JetStreamManager, desired: StreamConfig, subjects: Subjects): Promise<StreamInfo> {
  let lastError: unknown;
  for (let round = 0; round < PROVISION_ROUNDS; round++) {
    const existing = await readStream(jsm, desired.name);
    if (!existing) {
      try {
        return await whilePlacing(`stream ${desired.name}`, () => jsm.streams.add(desired));
      } catch (error) {
        const code = jsApiErrorCode(error);
        // Another process created it first (with a different config): read it and reconcile.
        if (code === JsErrCode.STREAM_NAME_IN_USE) {
          lastError = error;
          continue;
        }
        if (code === JsErrCode.STREAM_SUBJECT_OVERLAP) {
          throw incompatible(desired.name, `its subjects ${subjects.all()} overlap with another stream's`, error);
        }
        throw error;
      }
    }
    const problem = subjectsProblem(existing.config, subjects) ?? immutableProblem(existing.config, desired);
    if (problem) throw incompatible(desired.name, problem);
    const changes = mutableChanges(existing.config, desired);
    // nats-server 2.9 refuses any republish change (10052), 2.10+ accepts it: try, and explain a refusal.
    const republish = republishProblem(existing.config, subjects);
    if (republish) changes.republish = desired.republish;
    if (Object.keys(changes).length === 0) return existing;
    try {
      return await jsm.streams.update(desired.name, changes);
    } catch (error) {
      const code = jsApiErrorCode(error);
      if (code === JsErrCode.STREAM_UPDATE_REPUBLISH) {
        throw incompatible(
          desired.name,
          `${republish ?? "its republish differs"}; this nats-server cannot change republish on an existing stream ` +
            "(2.10+ can): delete and re-provision the stream (its events are lost) or configure the matching prefixes",
          error,
        );
      }
      if (code === JsErrCode.STREAM_NOT_FOUND) {
        lastError = error; // deleted between read and update: start over
        continue;
      }
      throw error;
    }
  }
  throw new ThreadlineError(
    ErrorCode.UNAVAILABLE,
    `stream ${desired.name} kept changing while it was provisioned (${PROVISION_ROUNDS} rounds)`,
    { cause: lastError },
  );
}

async function readStream(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (error) {
    if (jsApiErrorCode(error) === JsErrCode.STREAM_NOT_FOUND) return undefined;
    throw error;
  }
}

/** Why an existing stream cannot carry Threadline sessions (subjects, republish), if it cannot. */
function functionalProblem(config: StreamConfig, subjects: Subjects): string | undefined {
  return subjectsProblem(config, subjects) ?? republishProblem(config, subjects);
}

function subjectsProblem(config: StreamConfig, subjects: Subjects): string | undefined {
  const have = config.subjects ?? [];
  return have.includes(subjects.all())
    ? undefined
    : `its subjects ${JSON.stringify(have)} do not include ${subjects.all()}`;
}

function republishProblem(config: StreamConfig, subjects: Subjects): string | undefined {
  const rp = config.republish;
  if (rp && rp.src === subjects.all() && rp.dest === subjects.liveAll() && rp.headers_only !== true) return undefined;
  const want = JSON.stringify({ src: subjects.all(), dest: subjects.liveAll() });
  return `its republish is ${rp ? JSON.stringify(rp) : "not configured"}, Threadline needs ${want}`;
}

function immutableProblem(config: StreamConfig, desired: StreamConfig): string | undefined {
  if (config.retention !== desired.retention) return `its retention is ${config.retention}, not ${desired.retention}`;
  if (config.storage !== desired.storage) return `its storage is ${config.storage}, not ${desired.storage}`;
  return undefined;
}

function mutableChanges(config: StreamConfig, desired: StreamConfig): Partial<StreamUpdateConfig> {
  const changes: Partial<StreamUpdateConfig> = {};
  for (const field of MUTABLE_FIELDS) {
    if (config[field] !== desired[field]) (changes as Record<string, unknown>)[field] = desired[field];
  }
  return changes;
}

function incompatible(stream: string, problem: string, cause?: unknown): ThreadlineError {
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `stream ${stream} cannot serve Threadline: ${problem}`, {
    retryable: false,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The KV buckets next to the stream, all history 1 (one value per key; control
 * keys are written with create/CAS on their revision):
 * - cursors: a cursor older than the oldest stored event is useless, so the
 *   bucket forgets it with the events (TTL = `maxAge`);
 * - presence: the bucket TTL (`presenceTtlMs`) is the garbage collection of
 *   entries nobody refreshed or removed;
 * - control: keys live as long as events (TTL = `maxAge`);
 * - push: subscriptions and preferences never expire (removed by their API);
 * - notify: the claim ledger forgets a trigger after `notifyTtlMs`;
 * - streams: data-stream records live until their stream is deleted or expires (its own TTL).
 */
async function ensureBuckets(nc: NatsConnection, o: Required<ProvisionOptions>): Promise<void> {
  const kvm = new Kvm(jetstream(nc));
  const eventsTtl = o.maxAge > 0 ? o.maxAge : undefined;
  await ensureBucket(kvm, o.cursorBucket, o.replicas, eventsTtl);
  await ensureBucket(kvm, o.presenceBucket, o.replicas, o.presenceTtlMs);
  await ensureBucket(kvm, o.controlBucket, o.replicas, eventsTtl);
  await ensureBucket(kvm, o.pushBucket, o.replicas, undefined);
  await ensureBucket(kvm, o.notifyBucket, o.replicas, o.notifyTtlMs);
  await ensureBucket(kvm, o.streamsBucket, o.replicas, undefined);
}

/**
 * Creates a history-1 file bucket (`ttlMs` undefined = keys never expire). An
 * existing bucket is opened as it is, also when a concurrent provisioner
 * created it with a different config between our read and create.
 */
async function ensureBucket(kvm: Kvm, name: string, replicas: number, ttlMs: number | undefined): Promise<void> {
  const options = { history: 1, replicas, storage: StorageType.File, ...(ttlMs === undefined ? {} : { ttl: ttlMs }) };
  try {
    await whilePlacing(`bucket ${name}`, () => kvm.create(name, options));
  } catch (error) {
    if (jsApiErrorCode(error) !== JsErrCode.STREAM_NAME_IN_USE) throw error;
    await kvm.open(name);
  }
}

function toThreadlineInfo(info: StreamInfo, subjects: Subjects): ThreadlineStreamInfo {
  return {
    stream: info.config.name,
    epoch: epochFromStreamCreated(info.created),
    subjects,
    config: info.config,
  };
}
