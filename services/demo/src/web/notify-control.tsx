import { createClient, type ThreadlineNotifications } from "@threadline/client";
import { useEffect, useState } from "react";
import { currentPushStatus, disablePush, enablePush, type PushStatus } from "./push-notifications.ts";
import { NOTIFY_LABEL } from "./push-state.ts";
import { fetchToken, loadConfig } from "./use-session.ts";

/** `client.notifications` for `user` on a client of its own (no socket: it only uses the gateway's HTTP API). */
function useNotifications(user: string): ThreadlineNotifications | undefined {
  const [notifications, setNotifications] = useState<ThreadlineNotifications>();
  useEffect(() => {
    let closed = false;
    let close: (() => Promise<void>) | undefined;
    void loadConfig().then(({ gatewayUrl }) => {
      if (closed) return;
      const client = createClient({ url: gatewayUrl, token: () => fetchToken(user, "user") });
      close = () => client.close();
      setNotifications(client.notifications);
    });
    return () => {
      closed = true;
      void close?.();
    };
  }, [user]);
  return notifications;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The "Notify me" control's state, and its click. */
export interface NotifyControl {
  /** Undefined while it is being read at page load. */
  status: PushStatus | undefined;
  /** What the last click led to when it needs saying (why it stayed off, or is blocked); cleared by the next click. */
  notice: string | undefined;
  busy: boolean;
  toggle(): void;
}

/**
 * "Notify me": Web Push for this browser and user (PROTOCOL.md §20), state
 * off / on / blocked / unsupported. Permission is asked only in `toggle` (a
 * click). On: a click turns it off again. A failure (the browser's push
 * service refused) leaves the state as it was and says why in `notice`.
 */
export function useNotifyControl(user: string): NotifyControl {
  const notifications = useNotifications(user);
  const [status, setStatus] = useState<PushStatus>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!notifications) return;
    let live = true;
    currentPushStatus(notifications).then(
      (s) => live && setStatus(s),
      (e: unknown) => live && setStatus({ state: "off", detail: `Notifications: ${message(e)}` }),
    );
    return () => {
      live = false;
    };
  }, [notifications]);

  const toggle = () => {
    const state = status?.state;
    if (!notifications || !state || busy) return;
    setBusy(true);
    setNotice(undefined);
    (state === "on" ? disablePush(notifications) : enablePush(notifications))
      .catch(
        (e: unknown): PushStatus => ({
          state,
          detail: `This browser could not ${state === "on" ? "unsubscribe" : "subscribe"}: ${message(e)}`,
        }),
      )
      .then((next) => {
        setStatus(next);
        setNotice(next.detail);
      })
      .finally(() => setBusy(false));
  };
  return { status, notice, busy, toggle };
}

/** The header's button (`data-testid="notify"`, `data-state`). */
export function NotifyButton({ control }: { control: NotifyControl }) {
  const { status, busy, toggle } = control;
  const state = status?.state;
  return (
    <button
      type="button"
      className={`ghost notify ${state ?? "checking"}`}
      data-testid="notify"
      data-state={state ?? "checking"}
      aria-pressed={state === "on"}
      disabled={busy || state === undefined || state === "blocked" || state === "unsupported"}
      title={status?.detail ?? (state === "on" ? "Click to stop notifications" : "Get a notification when we answer")}
      onClick={toggle}
    >
      {state ? NOTIFY_LABEL[state] : NOTIFY_LABEL.off}
    </button>
  );
}

/** What a click on the button led to, when it needs saying, as a line under the header. */
export function NotifyNotice({ control }: { control: NotifyControl }) {
  if (!control.notice) return null;
  return (
    <div className="notify-notice" data-testid="notify-notice" role="status">
      {control.notice}
    </div>
  );
}
