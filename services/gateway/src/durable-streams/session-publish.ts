import { ErrorCode, formatOffset, type PublishFrame, ThreadlineError } from "@threadline/protocol";
import type { Principal } from "../auth.ts";
import type { ConnectionContext, ConnectionPort } from "../connection-port.ts";
import { parseClientFrame } from "../frame-schema.ts";
import { PublishHandler } from "../publish-handler.ts";
import { type DsResponse, H } from "./ds-response.ts";

/** HTTP status of each refusal a publish can get (the body is the error's `{code, message, retryable}`). */
const STATUS: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.INVALID_FRAME]: "400 Bad Request",
  [ErrorCode.BAD_FRAME]: "400 Bad Request",
  [ErrorCode.EVENT_TYPE_NOT_ALLOWED]: "400 Bad Request",
  [ErrorCode.FORBIDDEN]: "403 Forbidden",
  [ErrorCode.EVENT_TOO_LARGE]: "413 Payload Too Large",
  [ErrorCode.RATE_LIMITED]: "429 Too Many Requests",
  [ErrorCode.TOO_MANY_PENDING]: "429 Too Many Requests",
  [ErrorCode.UNAVAILABLE]: "503 Service Unavailable",
  [ErrorCode.PUBLISH_FAILED]: "503 Service Unavailable",
};

/** The HTTP status of a publish refusal: control-state refusals (turn, call, id conflicts) are 409. */
export function publishErrorStatus(code: ErrorCode): string {
  return STATUS[code] ?? (code === ErrorCode.INTERNAL ? "500 Internal Server Error" : "409 Conflict");
}

/**
 * The WebSocket publish path for one HTTP request: `PublishHandler` (the same
 * checks as a socket's `publish` frame — event type, grants, operator-only
 * handoffs, state ops, the user's event rate, `maxEventBytes`, control gate,
 * dedupe) driven through a one-shot port whose `published` / `error` frame
 * becomes the response.
 */
class RequestPort implements ConnectionPort {
  readonly closed = false;
  private settle!: (outcome: { frame: object } | { error: ThreadlineError }) => void;
  readonly outcome = new Promise<{ frame: object } | { error: ThreadlineError }>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    readonly id: string,
    readonly ctx: ConnectionContext,
    readonly principal: Principal,
    readonly device: string,
  ) {}

  authenticated(): Principal {
    return this.principal;
  }

  sendFrame(frame: object): void {
    this.settle({ frame });
  }

  sendError(error: ThreadlineError): void {
    this.ctx.metrics.clientErrors.inc({ code: error.code });
    this.settle({ error });
  }

  close(): void {}
}

let requests = 0;

/**
 * POST on a session log (PROTOCOL.md §21.8): the body is one client event
 * `{id?, type, turn?, ref?, data?}` (JSON); 200 `{id, seq, epoch, duplicate}`
 * with `Stream-Next-Offset` after the stored event, or the publish's typed
 * refusal. `device` is the request's `Threadline-Device` header (a device id)
 * or `http-<n>`.
 */
export async function publishToSession(
  ctx: ConnectionContext,
  principal: Principal,
  session: string,
  body: Uint8Array,
  device: string | undefined,
): Promise<DsResponse> {
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return refusal(new ThreadlineError(ErrorCode.BAD_FRAME, "the body must be one JSON event object"));
  }
  let frame: PublishFrame;
  try {
    frame = parseClientFrame({ op: "publish", rid: 0, session, event }) as PublishFrame;
  } catch (error) {
    return refusal(
      error instanceof ThreadlineError ? error : new ThreadlineError(ErrorCode.INVALID_FRAME, String(error)),
    );
  }
  const port = new RequestPort(`http-${++requests}`, ctx, principal, device ?? `http-${requests}`);
  new PublishHandler(port, () => ctx.epoch()).publish(frame);
  const outcome = await port.outcome;
  if ("error" in outcome) return refusal(outcome.error);
  const published = outcome.frame as { id: string; seq: number; epoch: string; duplicate: boolean };
  return {
    status: "200 OK",
    headers: { "Content-Type": "application/json", [H.NEXT_OFFSET]: formatOffset(published.epoch, published.seq) },
    body: JSON.stringify({
      id: published.id,
      seq: published.seq,
      epoch: published.epoch,
      duplicate: published.duplicate,
    }),
  };
}

function refusal(error: ThreadlineError): DsResponse {
  return {
    status: publishErrorStatus(error.code),
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(error.toWire()),
  };
}
