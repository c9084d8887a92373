import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const IMPORT = `import { installThreadlineServiceWorker, notificationContent, parseThreadlineNotification } from ${JSON.stringify(join(import.meta.dirname, "index.ts"))};
declare const self: ServiceWorkerGlobalScope;
`;

/** A service worker as an app writes it, using every option. */
const APP_WORKER = `${IMPORT}
const uninstall = installThreadlineServiceWorker(self, {
  openUrl: "/chat?session={session}",
  render: (notification, data) => (notification ? notificationContent(notification) : data ? { title: "App", options: {} } : null),
  onPushSubscriptionChange: async (event) => {
    const subscription = await self.registration.pushManager.subscribe({ userVisibleOnly: true });
    return [event.newSubscription, subscription.toJSON()];
  },
});
self.addEventListener("push", (event: PushEvent) => {
  const n = parseThreadlineNotification(event.data);
  if (n) console.log(n.session, n.position.seq);
});
uninstall();
`;

/** A mistake the check must report (so an empty report above is not vacuous). */
const WRONG_WORKER = `${IMPORT}
installThreadlineServiceWorker(self, { openUrl: 42 });
`;

let dir: string;
let problems: Record<"app" | "wrong", string[]>;

// The subpath must compile in a real service worker project — the WebWorker lib (where `self` is a
// ServiceWorkerGlobalScope), no DOM, no Node types — and accept `self` as is: it is typed structurally.
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "threadline-sw-types-"));
  const files = { app: join(dir, "app-sw.mts"), wrong: join(dir, "wrong-sw.mts") };
  writeFileSync(files.app, APP_WORKER);
  writeFileSync(files.wrong, WRONG_WORKER);
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    {
      target: "ES2022",
      lib: ["ES2023", "WebWorker"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      types: [],
    },
    dir,
  );
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, ts.createCompilerHost({})));
  const program = ts.createProgram(Object.values(files), options);
  const report = (file: string) =>
    [...program.getGlobalDiagnostics(), ...ts.getPreEmitDiagnostics(program, program.getSourceFile(file))].map(
      (d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
    );
  problems = { app: report(files.app), wrong: report(files.wrong) };
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("@threadline/client/service-worker under the WebWorker lib", () => {
  it("accepts `self` and the browser's events without a cast", () => {
    expect(problems.app).toEqual([]);
  });

  it("reports a wrong option (the check is not vacuous)", () => {
    expect(problems.wrong).toEqual([
      expect.stringMatching(
        /wrong-sw\.mts: Type 'number' is not assignable to type 'string \| \(\(notification: ThreadlineNotification\)/,
      ),
    ]);
  });
});
