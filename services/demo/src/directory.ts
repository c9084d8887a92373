/**
 * The session the triage pool publishes `support.session` events into (one
 * per customer input: `{ session, user, text }`) and the operator console
 * follows to list the support conversations — a Threadline session used as a
 * durable work queue.
 */
export const DIRECTORY_SESSION = "support-desk";
