import { createRoot } from "react-dom/client";
import { customerPath, readCustomerUrl } from "../customer-url.ts";
import { CustomerRoute } from "./customer-route.tsx";
import { OperatorApp } from "./operator-app.tsx";
import "./styles.css";

/**
 * Routes: `/` the customer chat (`?session=<id>&user=<id>`; a new session id
 * is made and put in the URL when absent, so more tabs can open the same
 * conversation; a click on a notification switches it, see CustomerRoute),
 * `/operator` the operator console (`?operator=<id>&session=<id>`).
 */
const params = new URLSearchParams(location.search);
const root = createRoot(document.getElementById("root")!);
const customer = readCustomerUrl(new URL(location.href));
if (!customer) {
  root.render(<OperatorApp operator={params.get("operator") ?? "olga"} initial={params.get("session") ?? undefined} />);
} else {
  let session = customer.session;
  if (!session) {
    session = `support-${Math.random().toString(36).slice(2, 8)}`;
    history.replaceState(null, "", customerPath(session, customer.user));
  }
  root.render(<CustomerRoute initial={session} user={customer.user} />);
}
