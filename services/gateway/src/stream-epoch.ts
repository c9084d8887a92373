import type { SessionHistory } from "./session-history.ts";

/**
 * The stream's epoch as the gateway last saw it. Every stream-state read
 * through `history` updates it (a recreated stream changes it), so attach
 * checks and the HTTP reads compare positions with the current epoch.
 */
export interface StreamEpoch {
  /** The history, with `streamState()` updating the epoch on each read. */
  readonly history: SessionHistory;
  current(): string;
}

export function trackStreamEpoch(history: SessionHistory, initial: string): StreamEpoch {
  let epoch = initial;
  return {
    history: {
      messageAt: (seq) => history.messageAt(seq),
      read: (session, after) => history.read(session, after),
      async streamState() {
        const state = await history.streamState();
        epoch = state.epoch;
        return state;
      },
    },
    current: () => epoch,
  };
}
