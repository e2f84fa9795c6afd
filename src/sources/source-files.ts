/**
 * Resolves a file source's `path` (a file, a directory, or a glob) to a sorted list of files.
 * Node 20 has no fs.glob, so globs are compiled to a RegExp here.
 */
import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { LarderError } from "../errors.js";

const GLOB_CHARS = /[*?[{]/;

export function isGlob(path: string): boolean {
  return GLOB_CHARS.test(path);
}

/**
 * Compiles a glob to a RegExp over `/`-separated paths: `*` and `?` stay within one path segment,
 * `**` spans any number of segments (including none), `[abc]`/`[!abc]` are classes, `{a,b}` are
 * alternatives.
 */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atSegmentStart = i === 0 || glob[i - 1] === "/";
        if (atSegmentStart && glob[i + 2] === "/") {
          re += "(?:[^/]*/)*"; // "**/": zero or more whole segments
          i += 2;
        } else {
          re += ".*";
          i += 1;
        }
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else if (c === "{") {
      braces++;
      re += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      re += ")";
    } else if (c === "," && braces > 0) re += "|";
    else re += c.replace(/[.+^$()|\\\]{}]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** `data/a.parquet` for files under the repository, else the absolute path. */
export function displayPath(file: string, repoDir: string): string {
  const rel = relative(resolve(repoDir), file);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel.split(sep).join("/") : file;
}

async function entries(dir: string): Promise<Dirent[]> {
  return readdir(dir, { withFileTypes: true });
}

/** Files under `dir` (recursively, not following symlinked directories), as `/`-separated relative paths. */
async function walk(dir: string, maxDepth: number, skip: (name: string) => boolean, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await entries(dir)) {
    if (skip(e.name)) continue;
    const rel = prefix + e.name;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(join(dir, e.name)).catch(() => null);
      isFile = s?.isFile() ?? false;
      isDir = false;
    }
    if (isFile) out.push(rel);
    else if (isDir && maxDepth > 1) out.push(...(await walk(join(dir, e.name), maxDepth - 1, skip, `${rel}/`)));
  }
  return out;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function notFound(sourceName: string, shown: string, what: string): LarderError {
  return new LarderError("SOURCE_NOT_FOUND", `source ${JSON.stringify(sourceName)}: ${what} ${shown}`, { source: sourceName, path: shown });
}

/** The journal of a compaction in progress in a directory (see ./compact-push-files.ts). */
export const COMPACTION_JOURNAL = ".larder-compaction.json";

export interface CompactionJournal {
  /** The merged file under its hidden name, until renamed to `final`. */
  merged: string;
  final: string;
  /** The files `final` holds the rows of, removed after the rename. */
  replaces: string[];
}

/**
 * `files` without those a committed compaction replaced: in a directory with a journal whose
 * final file is listed, the files it replaces are skipped (they are about to be removed, and
 * their rows are in the final file).
 */
async function withoutCompacted(files: string[]): Promise<string[]> {
  const drop = new Set<string>();
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const text = await readFile(join(dir, COMPACTION_JOURNAL), "utf8").catch(() => null);
    if (text === null) continue;
    let journal: Partial<CompactionJournal>;
    try {
      journal = JSON.parse(text) as Partial<CompactionJournal>;
    } catch {
      continue;
    }
    if (typeof journal.final !== "string" || !Array.isArray(journal.replaces) || !files.includes(join(dir, journal.final))) continue;
    for (const r of journal.replaces) drop.add(join(dir, r));
  }
  return drop.size === 0 ? files : files.filter((f) => !drop.has(f));
}

/**
 * The files of a file source, sorted. A directory yields every file ending in `extension` below
 * it, skipping names that start with "." or "_" (as Spark and Hive do for metadata files), and
 * files a committed compaction replaced (see `withoutCompacted`). No file → SOURCE_NOT_FOUND
 * naming the source and the resolved path.
 */
export async function resolveSourceFiles(sourceName: string, path: string, repoDir: string, extension: string): Promise<string[]> {
  const abs = resolve(repoDir, path);
  if (!isGlob(path)) {
    const s = await stat(abs).catch(() => null);
    if (!s) throw notFound(sourceName, abs, "no such file or directory:");
    if (s.isFile()) return [abs];
    if (!s.isDirectory()) throw notFound(sourceName, abs, "not a file or directory:");
    const files = (await walk(abs, Number.POSITIVE_INFINITY, (n) => n.startsWith(".") || n.startsWith("_"))).filter((f) => f.endsWith(extension)).sort(byCodeUnit);
    if (files.length === 0) throw notFound(sourceName, abs, `no *${extension} files in directory`);
    return withoutCompacted(files.map((f) => join(abs, f)));
  }
  // Walk from the deepest directory without glob characters; a pattern without "**" bounds the depth.
  const pattern = abs.split(sep).join("/");
  const segments = pattern.split("/");
  const firstGlob = segments.findIndex((s) => isGlob(s));
  const base = segments.slice(0, firstGlob).join("/") || "/";
  const rest = segments.slice(firstGlob);
  const maxDepth = rest.includes("**") || rest.some((s) => s.includes("**")) ? Number.POSITIVE_INFINITY : rest.length;
  const re = globToRegExp(rest.join("/"));
  const baseStat = await stat(base).catch(() => null);
  const files = baseStat?.isDirectory() ? (await walk(base, maxDepth, (n) => n.startsWith("."))).filter((f) => re.test(f)).sort(byCodeUnit) : [];
  if (files.length === 0) throw notFound(sourceName, abs, "no files match");
  return withoutCompacted(files.map((f) => join(base, f)));
}
