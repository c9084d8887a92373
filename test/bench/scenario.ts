import type { Table } from "./table.ts";

export interface ScenarioOptions {
  /** `--quick`: a smaller run that finishes in under 30 s. */
  quick: boolean;
  /** Numeric flags (`--sessions 500` → `{ sessions: 500 }`), scenario-specific. */
  overrides: Record<string, number>;
  /** Progress lines (stderr), so stdout carries only the tables and the JSON. */
  progress(line: string): void;
}

export interface ScenarioResult {
  /** The machine-readable result, written to `--json FILE` and printed last. */
  json: Record<string, unknown>;
  tables: Table[];
  /** The scenario's own checks that failed (e.g. events lost in a read that must be exact): the CLI exits 1. */
  failures?: string[];
}

/** One benchmark: one file per scenario, each running its baseline or peer in the same run. */
export interface Scenario {
  name: string;
  description: string;
  /** The numeric flags it understands, with a description and the default (full / quick). */
  flags: Record<string, string>;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}
