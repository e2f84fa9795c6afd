/** The sources port's conformance suite against CSV sources. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { csvSource } from "../src/definitions/sources.js";
import { runSourceReaderConformance } from "./conformance/source-reader.js";
import { fastTempDir } from "./helpers/feature-repo.js";

function cell(v: string | number | boolean | null): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

runSourceReaderConformance("csv", async () => {
  const dir = await mkdtemp(join(fastTempDir(), "larder-src-csv-"));
  return {
    opts: { repoDir: dir },
    async make(name, rows, options = {}) {
      const lines = ["id,ts,created,amount,plan,active"];
      for (const r of rows) {
        const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
        lines.push([r.id, iso(r.ts), iso(r.created), r.amount, r.plan, r.active].map(cell).join(","));
      }
      await writeFile(join(dir, `${name}.csv`), `${lines.join("\n")}\n`);
      return csvSource({ name, path: `${name}.csv`, timestampField: "ts", createdTimestampField: options.createdTimestampField ?? undefined, fieldMapping: options.fieldMapping ?? {} });
    },
    missing: (name) => csvSource({ name, path: "missing.csv", timestampField: "ts" }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
