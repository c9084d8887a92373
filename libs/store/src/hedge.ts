/**
 * Hedged requests: a request not answered within a short while gets a second
 * one alongside, and the first answer is used.
 *
 * Why (measured in test/chaos/README.md): after a NATS node dies without a
 * shutdown, the meta leader counts it active until its orphan timeout (5 ×
 * the 30 s server heartbeat) and places about a third of new R1 consumers on
 * it; those creates are never answered. A healthy create answers in
 * milliseconds, so a second create after `afterMs` is almost always a second
 * draw, not a second load.
 */

/** A shared limit of hedges in flight, so that requests slow for another reason (an overloaded server) are not doubled. */
export class HedgeBudget {
  private inFlight = 0;

  constructor(readonly max: number) {}

  /** Takes one hedge if the budget allows (pure bookkeeping). */
  take(): boolean {
    if (this.inFlight >= this.max) return false;
    this.inFlight++;
    return true;
  }

  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  get used(): number {
    return this.inFlight;
  }
}

export interface HedgeOptions<T> {
  /** A request not settled within this long, ms, gets a second one alongside. */
  afterMs: number;
  /** Disposes of an answer that lost the race, e.g. deletes the consumer it created (best effort). */
  discard(result: T): unknown;
  /** Hedges in flight are limited by this budget (shared by the caller's requests); none = no limit. */
  budget?: HedgeBudget;
}

const HEDGE = Symbol("hedge");

/**
 * `request()`, and if it has not settled within `afterMs`, `request()` again:
 * the first to succeed is returned and the other one's result, if it succeeds
 * later, goes to `discard`. A request that fails before `afterMs` fails at
 * once (no hedge); both failing rejects with the first's error. Without budget
 * left, the first request is simply awaited.
 * @example
 *   const ci = await hedged(() => jsm.consumers.add(stream, config), {
 *     afterMs: 500,
 *     discard: (c) => jsm.consumers.delete(stream, c.name),
 *   });
 */
export async function hedged<T>(request: () => Promise<T>, options: HedgeOptions<T>): Promise<T> {
  const first = request();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof HEDGE>((resolve) => {
    timer = setTimeout(() => resolve(HEDGE), options.afterMs);
  });
  try {
    if ((await Promise.race([first, deadline])) !== HEDGE) return first;
  } finally {
    clearTimeout(timer);
  }
  if (options.budget && !options.budget.take()) return first;
  const second = request();
  if (options.budget) {
    const budget = options.budget;
    second.then(
      () => budget.release(),
      () => budget.release(),
    );
  }
  const winner = await Promise.any([first, second]).catch(() => first);
  for (const other of [first, second]) {
    other
      .then(
        (result) => (result === winner ? undefined : options.discard(result)),
        () => {},
      )
      .catch(() => {});
  }
  return winner;
}
