export { runCli, USAGE } from "./cli.ts";
export type { CliIO } from "./cli-io.ts";
