import { createRoot } from "react-dom/client";
import { CustomerApp } from "./customer-app.tsx";
import { OperatorApp } from "./operator-app.tsx";
import "./styles.css";

/**
 * Routes: `/` the customer chat (`?session=<id>&user=<id>`; a new session id
 * is made and put in the URL when absent, so more tabs can open the same
 * conversation), `/operator` the operator console (`?operator=<id>&session=<id>`).
 */
const params = new URLSearchParams(location.search);
const root = createRoot(document.getElementById("root")!);
if (location.pathname.startsWith("/operator")) {
  root.render(<OperatorApp operator={params.get("operator") ?? "olga"} initial={params.get("session") ?? undefined} />);
} else {
  let session = params.get("session");
  if (!session) {
    session = `support-${Math.random().toString(36).slice(2, 8)}`;
    params.set("session", session);
    history.replaceState(null, "", `?${params}`);
  }
  root.render(<CustomerApp session={session} user={params.get("user") ?? "customer"} />);
}
