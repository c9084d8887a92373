/**
 * Reports an exception thrown by an application callback without breaking
 * the client's own processing: `reportError` in browsers (logged like an
 * uncaught error), otherwise rethrown from a microtask (an uncaught exception
 * in Node, like a throwing EventEmitter listener).
 */
export function reportListenerError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === "function") {
    report(error);
    return;
  }
  queueMicrotask(() => {
    throw error;
  });
}

/** Calls every listener with `value`; a throwing listener is reported and does not stop the others. */
export function notifyAll<T>(listeners: Iterable<(value: T) => void>, value: T): void {
  for (const listener of [...listeners]) {
    try {
      listener(value);
    } catch (error) {
      reportListenerError(error);
    }
  }
}
