import { useEffect, useRef, useState } from "react";
import { customerPath, readCustomerUrl } from "../customer-url.ts";
import { CustomerApp } from "./customer-app.tsx";
import { openedSession } from "./open-message.ts";

/**
 * The customer view and which session it shows: the URL's at first, then the
 * one a click on a notification opens in this tab (the service worker focuses
 * it and posts `threadline.open`: the URL becomes `?session=<id>` and the
 * view attaches that session from the start and catches up, as on a fresh
 * load), and back/forward through those.
 */
export function CustomerRoute({ initial, user }: { initial: string; user: string }) {
  const [session, setSession] = useState(initial);
  const current = useRef(initial);

  useEffect(() => {
    const show = (next: string) => {
      current.current = next;
      setSession(next);
    };
    const onMessage = (event: MessageEvent) => {
      const next = openedSession(event.data);
      if (next === undefined || next === current.current) return;
      history.pushState(null, "", customerPath(next, user));
      show(next);
    };
    const onPopState = () => {
      const next = readCustomerUrl(new URL(location.href))?.session;
      if (next !== undefined && next !== current.current) show(next);
    };
    window.addEventListener("popstate", onPopState);
    // No service workers on an insecure origin: nothing can post to the page then.
    const container = "serviceWorker" in navigator ? navigator.serviceWorker : undefined;
    container?.addEventListener("message", onMessage);
    return () => {
      window.removeEventListener("popstate", onPopState);
      container?.removeEventListener("message", onMessage);
    };
  }, [user]);

  return <CustomerApp session={session} user={user} />;
}
