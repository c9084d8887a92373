/** One scripted answer: a response, an error to throw (a network failure), or a function of the request. */
export type ScriptedAnswer = Response | Error | ((url: string, init: RequestInit) => Response);

/**
 * A `fetch` that answers from a script, in order, and records what it was
 * asked: for unit tests of the HTTP API wrappers (the real gateway is used in
 * test/integration). Runs out → it throws, so an unexpected extra call fails the test.
 */
export function scriptedFetch(...answers: ScriptedAnswer[]) {
  const calls: { url: string; init: RequestInit; body: unknown }[] = [];
  const fetchImpl = async (url: string, init: RequestInit): Promise<Response> => {
    calls.push({ url, init, body: typeof init.body === "string" ? JSON.parse(init.body) : undefined });
    const next = answers.shift();
    if (next === undefined) throw new Error(`no scripted answer left for ${init.method} ${url}`);
    if (next instanceof Error) throw next;
    return typeof next === "function" ? next(url, init) : next;
  };
  return { calls, fetchImpl };
}

/** A JSON response. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
