/**
 * Compaction of offline pushes: every offline push to a Parquet directory (or glob) adds one small
 * file (./append-rows.ts), so a busy push source becomes thousands of files. `larder compact`, and
 * every backfill that reads such a source, merges the push files of the target directory into one.
 *
 * Which files: those a push or an earlier compaction wrote (the pattern's `*` replaced by
 * `push-…`), smaller than SMALL_FILE_BYTES, up to MAX_MERGE_BYTES per run; the source's own files
 * are left alone. The merged file takes the column types pushes use (the first file's).
 *
 * Crash safety, one step at a time (the journal is the commit point):
 *   1. write the merged rows to `.compact-<id>.parquet` (readers skip dot-files; written atomically);
 *   2. write the journal `.larder-compaction.json` {merged, final, replaces} atomically;
 *   3. rename the merged file to its final name; 4. remove the replaced files; 5. remove the journal.
 * A crash before 2 leaves only a hidden file (removed by the next run); after 2 the next run (or
 * backfill) finishes 3–5. Readers meanwhile (./source-files.ts) skip the files a journal replaces
 * once its final file is listed, so no row is read twice or lost. Pushes during a compaction
 * write new names, never one being merged: none is lost. Two compactions of one source are
 * serialised by the caller's lock (the registry's `compact:<source>`).
 */
import { randomBytes } from "node:crypto";
import { open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import * as arrow from "apache-arrow";
import type { ParquetSourceDef } from "../definitions/definition-types.js";
import { readParquetFile, writeParquetFile } from "../offline/parquet-io.js";
import { existingSchema, parquetTarget, vectorOf, writableType, type AppendContext } from "./append-rows.js";
import { COMPACTION_JOURNAL, type CompactionJournal } from "./source-files.js";

/** Files at least this large are not merged again. */
const SMALL_FILE_BYTES = 64 * 1024 * 1024;
/** At most this many bytes of files are merged in one run (their rows are held in memory). */
const MAX_MERGE_BYTES = 256 * 1024 * 1024;

export interface CompactResult {
  source: string;
  /** The directory compacted. */
  dir: string;
  /** Files merged (0: fewer than two push files, nothing done). */
  merged: number;
  rows: number;
  /** The merged file, or null. */
  file: string | null;
}

/** Merges the push files of a Parquet directory or glob source into one (see the module comment). */
export async function compactPushFiles(source: ParquetSourceDef, ctx: AppendContext): Promise<CompactResult> {
  const { dir, pattern } = await parquetTarget(source, ctx);
  await finishCompaction(dir);
  const isPushFile = pushFileRegExp(pattern);
  const candidates: { name: string; size: number }[] = [];
  for (const name of (await readdir(dir)).filter((n) => isPushFile.test(n)).sort()) {
    const s = await stat(join(dir, name)).catch(() => null);
    if (s !== null && s.isFile() && s.size < SMALL_FILE_BYTES) candidates.push({ name, size: s.size });
  }
  let total = 0;
  const chosen = candidates.filter((c) => (total += c.size) <= MAX_MERGE_BYTES || c === candidates[0]);
  if (chosen.length < 2) return { source: source.name, dir, merged: 0, rows: 0, file: null };

  const schema = await existingSchema(source, ctx);
  const tables = await Promise.all(chosen.map((c) => readParquetFile(join(dir, c.name))));
  const fields = (schema ?? tables[0]!.schema).fields;
  const vectors: Record<string, arrow.Vector> = {};
  for (const f of fields) {
    const type = writableType(f.type as arrow.DataType);
    const values: unknown[] = [];
    for (const t of tables) {
      const col = t.getChild(f.name);
      for (let i = 0; i < t.numRows; i++) values.push(col === null ? null : col.get(i));
    }
    vectors[f.name] = vectorOf(source, f.name, type, values);
  }
  const merged = new arrow.Table(vectors);
  const id = `${new Date().toISOString().replace(/[-:.]/g, "")}-${randomBytes(4).toString("hex")}`;
  const hidden = `.compact-${id}.parquet`;
  const final = pattern.replace("*", `push-${id}-compacted`);
  await writeParquetFile(join(dir, hidden), merged);
  const journal: CompactionJournal = { merged: hidden, final, replaces: chosen.map((c) => c.name) };
  await writeDurably(join(dir, COMPACTION_JOURNAL), JSON.stringify(journal));
  await finishCompaction(dir);
  return { source: source.name, dir, merged: chosen.length, rows: merged.numRows, file: join(dir, final) };
}

/**
 * Completes a compaction whose journal is in `dir` (steps 3–5), and removes hidden merged files
 * without a journal (a compaction that crashed before its commit point).
 */
async function finishCompaction(dir: string): Promise<void> {
  const text = await readFile(join(dir, COMPACTION_JOURNAL), "utf8").catch(() => null);
  let pending: string | null = null;
  if (text !== null) {
    const j = JSON.parse(text) as CompactionJournal;
    pending = j.merged;
    if ((await stat(join(dir, j.merged)).catch(() => null)) !== null) await rename(join(dir, j.merged), join(dir, j.final));
    for (const name of j.replaces) await unlink(join(dir, name)).catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? undefined : Promise.reject(err)));
    await unlink(join(dir, COMPACTION_JOURNAL));
  }
  for (const name of await readdir(dir)) {
    if (name.startsWith(".compact-") && name !== pending) await unlink(join(dir, name)).catch(() => {});
  }
}

/** Names a push (or a compaction) writes for the pattern: its `*` replaced by `push-…`. */
function pushFileRegExp(pattern: string): RegExp {
  const [head, tail] = pattern.split("*") as [string, string];
  const esc = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${esc(head)}push-[^/]*${esc(tail)}$`);
}

/** Writes `text` to `path` atomically and durably (temporary file, fsync, rename). */
async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx");
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
