import { stableStringify } from "../definitions/repo-definitions.js";

/**
 * What changed between two stored specs of one definition, field by field, as text lines for
 * `larder plan`: nested objects (schema, aggregations, tags) are compared key by key
 * (`schema.plan: "string" → "int64"`, `+ schema.tier: "string"`, `- ttl`), and a changed transform
 * (stored as its source text) as a line diff.
 *
 * @example
 * specDiff({ ttl: "1d" }, { ttl: "30d" }); // ['ttl: "1d" → "30d"']
 */
export function specDiff(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  walk(before, after, "", out);
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown): string => stableStringify(v) ?? "undefined";

function walk(a: unknown, b: unknown, path: string, out: string[]): void {
  if (show(a) === show(b)) return;
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const p = path ? `${path}.${k}` : k;
      if (!(k in a)) out.push(`+ ${p}: ${show(b[k])}`);
      else if (!(k in b)) out.push(`- ${p}: ${show(a[k])}`);
      else walk(a[k], b[k], p, out);
    }
    return;
  }
  // Function source text (transforms) as a line diff, also when the loader wrote it on one line.
  if (typeof a === "string" && typeof b === "string" && (a.includes("\n") || b.includes("\n") || path === "transform" || path.endsWith(".transform"))) {
    out.push(`${path}:`, ...lineDiff(a, b).map((l) => `  ${l}`));
    return;
  }
  out.push(`${path}: ${show(a)} → ${show(b)}`);
}

/**
 * A unified-style line diff of two texts ("-" removed, "+" added, " " kept), from their longest
 * common subsequence; runs of more than `context` kept lines between changes are cut to "…".
 */
export function lineDiff(before: string, after: string, context = 2): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  // lcs[i][j]: length of the LCS of a[i..] and b[j..]. Transforms are short: O(n·m) is fine.
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const lines: { op: " " | "-" | "+"; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) (lines.push({ op: " ", text: a[i++]! }), j++);
    // Removals before additions, as diff(1) prints them.
    else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) lines.push({ op: "-", text: a[i++]! });
    else lines.push({ op: "+", text: b[j++]! });
  }
  const changed = lines.map((l, k) => (l.op !== " " ? k : -1)).filter((k) => k >= 0);
  const near = (k: number) => changed.some((c) => Math.abs(c - k) <= context);
  const out: string[] = [];
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k]!;
    if (l.op !== " " || near(k)) out.push(`${l.op} ${l.text}`);
    else if (out.at(-1) !== "  …") out.push("  …");
  }
  return out;
}
