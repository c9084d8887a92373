import {
  CLIENT_OPS,
  type ClientFrame,
  type ClientOp,
  ErrorCode,
  isDeviceId,
  isEventId,
  isEventType,
  isSessionId,
  MAX_ACCEPT_NAME_CHARS,
  MAX_ACCEPT_NAMES,
  ThreadlineError,
} from "@threadline/protocol";
import * as v from "valibot";

const rid = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const seq = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const session = v.custom<string>(isSessionId, "session must match [A-Za-z0-9_-]{1,128}");
const ref = v.custom<string>(isEventId, "must be 1-64 printable ASCII characters without spaces");
const position = v.object({ epoch: v.pipe(v.string(), v.minLength(1), v.maxLength(64)), seq, id: v.optional(ref) });

const schemas = {
  hello: v.object({
    op: v.literal("hello"),
    // Size is checked by the authenticator (AUTH_FAILED, PROTOCOL.md §6.1), not here: a schema error
    // would leave an unauthenticated socket open.
    token: v.optional(v.string()),
    device: v.optional(v.custom<string>(isDeviceId, "device must match [A-Za-z0-9_-]{1,64}")),
    // Optional frame kinds the client understands (PROTOCOL.md §7.3); unknown names are ignored.
    accept: v.optional(
      v.pipe(
        v.array(v.pipe(v.string(), v.maxLength(MAX_ACCEPT_NAME_CHARS))),
        v.maxLength(MAX_ACCEPT_NAMES, `accept lists at most ${MAX_ACCEPT_NAMES} names`),
      ),
    ),
  }),
  attach: v.object({
    op: v.literal("attach"),
    rid,
    session,
    from: v.optional(v.union([position, v.picklist(["start", "now", "cursor"])])),
    history: v.optional(v.picklist(["compact", "full"])),
    state: v.optional(v.boolean()),
  }),
  detach: v.object({ op: v.literal("detach"), rid, session }),
  publish: v.object({
    op: v.literal("publish"),
    rid,
    session,
    event: v.object({
      id: v.optional(ref),
      type: v.custom<string>(isEventType, "type must be lowercase dotted words"),
      turn: v.optional(ref),
      ref: v.optional(ref),
      data: v.optional(v.unknown()),
    }),
  }),
  ack: v.object({ op: v.literal("ack"), session, seq }),
  ping: v.object({ op: v.literal("ping"), rid }),
  // Status and metadata are checked by the presence handler (typed INVALID_FRAME / EVENT_TOO_LARGE).
  presence: v.object({
    op: v.literal("presence"),
    rid,
    session,
    status: v.string(),
    metadata: v.optional(v.record(v.string(), v.unknown())),
  }),
} satisfies Record<ClientOp, v.GenericSchema>;

const OPS: ReadonlySet<string> = new Set(CLIENT_OPS);

/**
 * Validates a decoded client frame. Unknown extra fields are ignored (forward
 * compatibility); a wrong or missing field is `INVALID_FRAME`, an unknown op
 * `UNKNOWN_OP`, a non-object `BAD_FRAME`. The thrown error carries the frame's
 * `rid` when one could be read, so the client can correlate it.
 */
export function parseClientFrame(decoded: unknown): ClientFrame {
  if (typeof decoded !== "object" || decoded === null || Array.isArray(decoded)) {
    throw new FrameError(ErrorCode.BAD_FRAME, "a frame must be a map/object with an `op` field", undefined);
  }
  const raw = decoded as Record<string, unknown>;
  const frameRid = ridOf(raw);
  if (typeof raw.op !== "string" || !OPS.has(raw.op)) {
    throw new FrameError(ErrorCode.UNKNOWN_OP, `unknown op ${JSON.stringify(raw.op)}`, frameRid);
  }
  const result = v.safeParse(schemas[raw.op as ClientOp], raw);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new FrameError(ErrorCode.INVALID_FRAME, `${raw.op}: ${path ? `${path}: ` : ""}${issue.message}`, frameRid);
  }
  return result.output as ClientFrame;
}

/** The `rid` of a decoded frame when it has a valid one (a non-negative safe integer), else undefined. */
export function ridOf(decoded: unknown): number | undefined {
  if (typeof decoded !== "object" || decoded === null) return undefined;
  const rid = (decoded as Record<string, unknown>).rid;
  return typeof rid === "number" && Number.isSafeInteger(rid) && rid >= 0 ? rid : undefined;
}

/** A ThreadlineError that remembers the offending frame's `rid`. */
export class FrameError extends ThreadlineError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly rid: number | undefined,
  ) {
    super(code, message);
  }
}
