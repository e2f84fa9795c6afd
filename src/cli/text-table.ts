/**
 * An aligned plain-text table: a header and rows of cells, columns separated by two spaces, the
 * last column not padded (no trailing blanks). `right` lists columns aligned right (numbers).
 *
 * @example
 * formatTextTable(["NAME", "ROWS"], [["a", "3"]], { right: [1] }); // "NAME  ROWS\na        3"
 */
export function formatTextTable(header: readonly string[], rows: readonly (readonly string[])[], options: { right?: readonly number[] } = {}): string {
  const right = new Set(options.right ?? []);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 && !right.has(i) ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** One cell's text: null as "null", Dates as ISO-8601, bigints and numbers as written, objects as JSON; one line. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
  if (typeof v === "object") return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
  return String(v).replace(/\s*\n\s*/g, " ");
}
