/** A cell: strings print as they are, numbers right-aligned, NaN/undefined as "–". */
export type Cell = string | number | undefined;

/** A titled table, printed by `formatTable` and also embedded in RESULTS.md. */
export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  /** Lines printed under the table (verdicts, notes). */
  notes?: string[];
}

function cellText(cell: Cell): string {
  if (cell === undefined || (typeof cell === "number" && Number.isNaN(cell))) return "–";
  return String(cell);
}

/** Monospace table with a header rule; numeric columns are right-aligned. */
export function formatTable(table: Table): string {
  const text = [table.columns, ...table.rows.map((row) => row.map(cellText))];
  const widths = table.columns.map((_, i) => Math.max(...text.map((row) => (row[i] ?? "").length)));
  const numeric = table.columns.map(
    (_, i) => table.rows.length > 0 && table.rows.every((r) => typeof r[i] !== "string"),
  );
  const line = (row: string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [table.title, line(text[0]!), widths.map((w) => "─".repeat(w)).join("  ")];
  for (const row of text.slice(1)) out.push(line(row));
  for (const note of table.notes ?? []) out.push(note);
  return out.join("\n");
}

/** "✓ met" / "✗ NOT met" for target lines. */
export function verdict(met: boolean): string {
  return met ? "✓ met" : "✗ NOT met";
}
