/**
 * Events a test observes as they happen, and a way to await one: `next`
 * resolves with the first event — already seen or still to come — matching a
 * predicate, so "act, then await" has no race. Events are kept, not consumed.
 */
export interface EventLog<T> {
  readonly events: T[];
  /** Records an event and wakes the waiters it matches. */
  push(event: T): void;
  /** Resolves with the first event (already seen or future) matching `predicate`; rejects after `timeoutMs`. */
  next(predicate: (event: T) => boolean, timeoutMs?: number): Promise<T>;
}

/** `what` names the events in the timeout error ("presence event", "outcome"). */
export function eventLog<T>(what: string, defaultTimeoutMs = 10_000): EventLog<T> {
  const events: T[] = [];
  const waiters = new Set<() => void>();
  return {
    events,
    push(event) {
      events.push(event);
      for (const wake of [...waiters]) wake();
    },
    next(predicate, timeoutMs = defaultTimeoutMs) {
      const found = events.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching ${what} in ${timeoutMs} ms; saw ${JSON.stringify(events)}`));
        }, timeoutMs);
        const check = () => {
          const match = events.find(predicate);
          if (!match) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(match);
        };
        waiters.add(check);
      });
    },
  };
}
