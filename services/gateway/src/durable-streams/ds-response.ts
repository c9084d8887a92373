/** What a Durable Streams operation answers, before the HTTP layer adds CORS and security headers. */
export interface DsResponse {
  /** Status line, e.g. `"200 OK"`. */
  status: string;
  /** Protocol headers (names as the protocol spells them). */
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export const H = {
  NEXT_OFFSET: "Stream-Next-Offset",
  UP_TO_DATE: "Stream-Up-To-Date",
  CURSOR: "Stream-Cursor",
  CLOSED: "Stream-Closed",
  TTL: "Stream-TTL",
  EXPIRES_AT: "Stream-Expires-At",
  PRODUCER_EPOCH: "Producer-Epoch",
  PRODUCER_SEQ: "Producer-Seq",
  PRODUCER_EXPECTED_SEQ: "Producer-Expected-Seq",
  PRODUCER_RECEIVED_SEQ: "Producer-Received-Seq",
  SSE_ENCODING: "Stream-SSE-Data-Encoding",
} as const;
