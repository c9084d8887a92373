import { accessSync, constants, writeFileSync } from "node:fs";
import type { Scenario, ScenarioResult } from "./scenario.ts";
import { formatTable } from "./table.ts";

/**
 * `npm run bench -- <scenario|all> [--quick] [--json FILE] [--nats-bin FILE] [--<flag> N …]`
 * Runs a scenario (its server processes, its baseline or peer in the same
 * run), prints its tables and its JSON result, and writes the JSON to FILE.
 */
const SCENARIOS: Record<string, () => Promise<Scenario>> = {
  delivery: async () => (await import("./delivery.ts")).delivery,
  resume: async () => (await import("./resume.ts")).resume,
  presence: async () => (await import("./presence.ts")).presence,
  scale: async () => (await import("./scale.ts")).scale,
  control: async () => (await import("./control.ts")).control,
  streaming: async () => (await import("./streaming.ts")).streaming,
  state: async () => (await import("./state.ts")).state,
  transport: async () => (await import("./transport.ts")).transport,
  peers: async () => (await import("./peers.ts")).peers,
};

function usage(scenarios: Scenario[]): string {
  const lines = [
    "usage: npm run bench -- <scenario|all> [--quick] [--json FILE] [--nats-bin FILE] [--<flag> N ...]",
    "",
    "  --quick          a smaller run that finishes in under 30 s (peers: under 3 min)",
    "  --json FILE      write the JSON result to FILE (for `all`: an array)",
    "  --nats-bin FILE  the nats-server binary every scenario starts (sets NATS_SERVER_BIN), e.g.",
    "                   $(bash deploy/local/ensure-nats-server.sh --min 2.10)",
    "",
  ];
  for (const s of scenarios) {
    lines.push(`${s.name}: ${s.description}`);
    for (const [flag, text] of Object.entries(s.flags)) lines.push(`  --${flag} N`.padEnd(20) + text);
  }
  return lines.join("\n");
}

interface Args {
  name: string | undefined;
  quick: boolean;
  json: string | undefined;
  natsBin: string | undefined;
  overrides: Record<string, number>;
  help: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { name: undefined, quick: false, json: undefined, natsBin: undefined, overrides: {}, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") args.quick = true;
    else if (arg === "--help" || arg === "-h") args.help = true;
    else if (arg === "--json") {
      args.json = argv[++i];
      if (!args.json) throw new Error("--json needs a file name");
    } else if (arg === "--nats-bin") {
      args.natsBin = argv[++i];
      if (!args.natsBin) throw new Error("--nats-bin needs a file name");
      accessSync(args.natsBin, constants.X_OK);
    } else if (arg.startsWith("--")) {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${arg} needs a non-negative number`);
      args.overrides[arg.slice(2)] = value;
    } else if (args.name === undefined) args.name = arg;
    else throw new Error(`unexpected argument ${arg}`);
  }
  return args;
}

async function main(): Promise<void> {
  const all = await Promise.all(Object.values(SCENARIOS).map((load) => load()));
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage(all)}`);
    process.exit(2);
  }
  if (args.help || !args.name) {
    console.log(usage(all));
    process.exit(args.help ? 0 : 2);
  }
  // The test kit starts nats-server from NATS_SERVER_BIN; spawned gateways inherit the environment.
  if (args.natsBin) process.env.NATS_SERVER_BIN = args.natsBin;
  const selected = args.name === "all" ? all : all.filter((s) => s.name === args.name);
  if (selected.length === 0) {
    console.error(`unknown scenario ${args.name}\n\n${usage(all)}`);
    process.exit(2);
  }
  for (const s of selected) {
    const unknown = Object.keys(args.overrides).filter((flag) => !(flag in s.flags));
    if (unknown.length > 0 && args.name !== "all") {
      console.error(`${s.name} does not take --${unknown.join(", --")}\n\n${usage([s])}`);
      process.exit(2);
    }
  }
  const results: ScenarioResult[] = [];
  for (const scenario of selected) {
    const started = performance.now();
    console.error(`▶ ${scenario.name}${args.quick ? " (quick)" : ""}`);
    const result = await scenario.run({
      quick: args.quick,
      overrides: args.overrides,
      progress: (line) => console.error(`  [${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`),
    });
    console.error(`✔ ${scenario.name} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const table of result.tables) console.log(`\n${formatTable(table)}`);
    console.log(`\n${JSON.stringify(result.json)}`);
    results.push(result);
  }
  if (args.json) {
    const payload = args.name === "all" ? results.map((r) => r.json) : results[0]!.json;
    writeFileSync(args.json, `${JSON.stringify(payload, null, 2)}\n`);
    console.error(`JSON written to ${args.json}`);
  }
  const failures = results.flatMap((r) => r.failures ?? []);
  for (const failure of failures) console.error(`✗ ${failure}`);
  // Workers, sockets and timers are closed by the scenarios; exit explicitly so a stray handle cannot hang the CLI.
  process.exit(failures.length > 0 ? 1 : 0);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // exit → the worker registry's "exit" hook kills helper processes.
  process.once(signal, () => process.exit(130));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
