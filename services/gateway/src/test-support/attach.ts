import { Attachment, type AttachmentOptions, type AttachmentSink } from "../attachment.ts";
import { createMetrics, type GatewayMetrics } from "../metrics.ts";
import type { SessionFeed } from "../session-feed.ts";
import type { SessionHistory } from "../session-history.ts";

/** An attachment under test, subscribed to `feed`, and the error codes it ended with. */
export interface TestAttachment {
  attachment: Attachment;
  ended: string[];
}

/**
 * Attaches `sink` to `feed` from `lastSent` (defaults: full history, 1,000 buffered, 3 attempts), the way
 * the attach handler does, recording the codes the attachment ends with.
 */
export function attachForTest(
  feed: SessionFeed,
  sink: AttachmentSink,
  history: SessionHistory,
  options: Partial<AttachmentOptions> & { lastSent?: number; metrics?: GatewayMetrics } = {},
): TestAttachment {
  const ended: string[] = [];
  const attachment = new Attachment(
    feed.session,
    feed,
    sink,
    history,
    {
      maxBuffered: options.maxBuffered ?? 1000,
      maxCatchUpAttempts: options.maxCatchUpAttempts ?? 3,
      history: options.history ?? "full",
    },
    options.metrics ?? createMetrics(),
    (_a, error) => ended.push(error.code),
    options.lastSent ?? 0,
  );
  feed.add(attachment);
  return { attachment, ended };
}
