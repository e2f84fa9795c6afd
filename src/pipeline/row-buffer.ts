import { mkdtempSync, rmSync, openSync, writeSync, closeSync, readFileSync, existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serialize, deserialize } from "node:v8";

/** Rows of a pipeline between transform and sort: key parts, times and value columns, columnar. */
export interface RowChunk {
  keys: unknown[][];
  ts: number[];
  created: number[];
  values: unknown[][];
}

export function newChunk(keyCount: number, valueCount: number): RowChunk {
  return {
    keys: Array.from({ length: keyCount }, () => []),
    ts: [],
    created: [],
    values: Array.from({ length: valueCount }, () => []),
  };
}

export function appendChunk(into: RowChunk, from: RowChunk): void {
  for (let k = 0; k < into.keys.length; k++) for (const v of from.keys[k]!) into.keys[k]!.push(v);
  for (const v of from.ts) into.ts.push(v);
  for (const v of from.created) into.created.push(v);
  for (let k = 0; k < into.values.length; k++) for (const v of from.values[k]!) into.values[k]!.push(v);
}

function hashKey(parts: unknown[], i: number, buckets: number): number {
  let h = 2166136261;
  for (const col of parts as unknown[][]) {
    const s = String(col[i]);
    for (let c = 0; c < s.length; c++) h = Math.imul(h ^ s.charCodeAt(c), 16777619);
    h = Math.imul(h ^ 31, 16777619);
  }
  return (h >>> 0) % buckets;
}

const SPILL_PREFIX = "larder-spill-";

/** The spill directory prefix of a run: its directories are `<tmpdir>/larder-spill-<runId>-XXXXXX`. */
function spillPrefix(owner: string | undefined): string {
  return owner === undefined ? SPILL_PREFIX : `${SPILL_PREFIX}${owner}-`;
}

/**
 * Removes the spill directories of runs that died without `dispose()` (kill -9): called by the next
 * run of their view once the registry has declared them abandoned. Returns the paths removed.
 */
export async function removeSpillDirs(runIds: readonly string[]): Promise<string[]> {
  if (runIds.length === 0) return [];
  const dir = tmpdir();
  const prefixes = runIds.map(spillPrefix);
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/**
 * Holds a pipeline's rows until they can be sorted. Up to `memoryRows` rows stay in memory; past
 * that every row goes to one of `buckets` spill files by a hash of its entity key, so each bucket
 * holds whole entities and can be sorted and aggregated on its own. Memory stays bounded by the
 * largest bucket, not the source.
 */
export class SpillingRowBuffer {
  private memory: RowChunk;
  private rows = 0;
  private dir: string | null = null;
  private staged: RowChunk[] = [];
  private stagedRows: number[] = [];

  constructor(
    private readonly keyCount: number,
    private readonly valueCount: number,
    private readonly memoryRows = 2_000_000,
    private readonly buckets = 32,
    private readonly flushRows = 50_000,
    /** The run the rows belong to: its id names the spill directory, so its orphans can be found. */
    private readonly owner?: string,
  ) {
    this.memory = newChunk(keyCount, valueCount);
  }

  get size(): number {
    return this.rows;
  }

  add(keys: unknown[], ts: number, created: number, values: unknown[]): void {
    this.rows++;
    const m = this.memory;
    for (let k = 0; k < this.keyCount; k++) m.keys[k]!.push(keys[k]);
    m.ts.push(ts);
    m.created.push(created);
    for (let k = 0; k < this.valueCount; k++) m.values[k]!.push(values[k]);
    if (m.ts.length >= this.memoryRows || (this.dir !== null && m.ts.length >= this.flushRows)) this.spill();
  }

  private spill(): void {
    if (this.dir === null) {
      this.dir = mkdtempSync(join(tmpdir(), spillPrefix(this.owner)));
      this.staged = Array.from({ length: this.buckets }, () => newChunk(this.keyCount, this.valueCount));
      this.stagedRows = new Array(this.buckets).fill(0);
    }
    const m = this.memory;
    for (let i = 0; i < m.ts.length; i++) {
      const b = hashKey(m.keys, i, this.buckets);
      const s = this.staged[b]!;
      for (let k = 0; k < this.keyCount; k++) s.keys[k]!.push(m.keys[k]![i]);
      s.ts.push(m.ts[i]!);
      s.created.push(m.created[i]!);
      for (let k = 0; k < this.valueCount; k++) s.values[k]!.push(m.values[k]![i]);
    }
    for (let b = 0; b < this.buckets; b++) this.flushBucket(b);
    this.memory = newChunk(this.keyCount, this.valueCount);
  }

  private flushBucket(b: number): void {
    const s = this.staged[b]!;
    if (s.ts.length === 0) return;
    const bytes = serialize(s);
    const fd = openSync(join(this.dir!, `bucket-${b}`), "a");
    try {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length);
      writeSync(fd, len);
      writeSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    this.staged[b] = newChunk(this.keyCount, this.valueCount);
  }

  /** Yields groups of rows such that every entity's rows are in exactly one group. */
  *groups(): Generator<RowChunk> {
    if (this.dir === null) {
      if (this.memory.ts.length > 0) yield this.memory;
      return;
    }
    this.spill();
    for (let b = 0; b < this.buckets; b++) {
      const path = join(this.dir, `bucket-${b}`);
      if (!existsSync(path)) continue;
      const data = readFileSync(path);
      const chunk = newChunk(this.keyCount, this.valueCount);
      let off = 0;
      while (off < data.length) {
        const len = data.readUInt32LE(off);
        off += 4;
        appendChunk(chunk, deserialize(data.subarray(off, off + len)) as RowChunk);
        off += len;
      }
      rmSync(path);
      yield chunk;
    }
  }

  dispose(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}
