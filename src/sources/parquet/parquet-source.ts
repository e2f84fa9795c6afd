/**
 * Reads Parquet sources one row group at a time: the group's bytes are read from the file, framed
 * as a one-group Parquet file (src/parquet/parquet-footer.ts rewrites the footer), decoded by parquet-wasm,
 * parsed by Arrow JS and converted column-wise into row objects. Row groups whose event-time
 * statistics lie outside the requested range are never read; parquet-wasm exposes no statistics,
 * so the footer is parsed here.
 *
 * Why not parquet-wasm's async `ParquetFile` over a file Blob, which also reads only a group's
 * bytes: on a corrupt page it panics inside a wasm future, the promise never settles and the
 * process gets an uncaught exception. The synchronous reader reports the same damage as an error.
 */
import { type FileHandle, open } from "node:fs/promises";
import { type Data, type DataType, DateUnit, type RecordBatch, type Schema, TimeUnit, Type, tableFromIPC } from "apache-arrow";
import { readParquet, readSchema } from "parquet-wasm";
import type { ParquetSourceDef } from "../../definitions/definition-types.js";
import { LarderError } from "../../errors.js";
import type { Row } from "../../types.js";
import { type ChunkContext, type ColumnReader, columnReader, dateReader, identity, timeMs } from "./arrow-columns.js";
import { type ColumnPlan, compileColumnsRowBuilder, planColumns, resolveBatchSize, resolveRange, type TimeRange } from "../column-plan.js";
import { chunkTimeBoundsMs, FooterFormatError, type ParquetFooter, parseParquetFooter, rowGroupFile, type StatsScale, schemaOnlyFile } from "../../parquet/parquet-footer.js";
import type { SourceReadOptions } from "../source-reader.js";
import { arrowColumnKind, type SourceColumnType } from "../source-column-type.js";
import { displayPath, resolveSourceFiles } from "../source-files.js";

const MAGIC = "PAR1";
const CONVERT_CHUNK = 4096;

function corrupt(source: ParquetSourceDef, shown: string, reason: string, cause?: unknown): LarderError {
  return new LarderError("CORRUPT_PARQUET", `source ${JSON.stringify(source.name)}: ${shown} is not a valid Parquet file: ${reason}`, { source: source.name, file: shown }, { cause });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Reads and parses the footer; checks both magic numbers so that non-Parquet files fail early. */
async function readFooter(source: ParquetSourceDef, handle: FileHandle, shown: string): Promise<ParquetFooter> {
  const { size } = await handle.stat();
  if (size < 12) throw corrupt(source, shown, `only ${size} bytes`);
  const head = await readAt(handle, 0, 4);
  const tail = await readAt(handle, size - 8, 8);
  if (head.toString("latin1") !== MAGIC) throw corrupt(source, shown, "no PAR1 magic number at the start");
  if (tail.toString("latin1", 4) !== MAGIC) throw corrupt(source, shown, "no PAR1 magic number at the end (truncated?)");
  const footerLength = tail.readUInt32LE(0);
  if (footerLength > size - 12) throw corrupt(source, shown, `footer length ${footerLength} exceeds the file size ${size}`);
  const footer = await readAt(handle, size - 8 - footerLength, footerLength);
  try {
    return parseParquetFooter(footer, size);
  } catch (err) {
    if (err instanceof FooterFormatError) throw corrupt(source, shown, `unreadable footer (${err.message})`, err);
    throw err;
  }
}

interface OpenedFile {
  readonly shown: string;
  readonly handle: FileHandle;
  readonly footer: ParquetFooter;
  readonly columnNames: string[];
  readonly schema: Schema;
  /** How the event column's statistics map to epoch ms; null when they cannot be used. */
  readonly eventStatsScale: StatsScale | null;
}

async function openParquet(source: ParquetSourceDef, file: string, repoDir: string): Promise<OpenedFile> {
  const shown = displayPath(file, repoDir);
  const handle = await open(file, "r").catch((err: unknown) => {
    throw new LarderError("SOURCE_READ_ERROR", `source ${JSON.stringify(source.name)}: cannot open ${shown}: ${errorText(err)}`, { source: source.name, file: shown }, { cause: err });
  });
  try {
    const footer = await readFooter(source, handle, shown);
    let schema: Schema;
    try {
      schema = tableFromIPC(readSchema(schemaOnlyFile(footer)).intoIPCStream()).schema;
    } catch (err) {
      throw corrupt(source, shown, errorText(err), err);
    }
    const eventType = schema.fields.find((f) => f.name === source.timestampField)?.type;
    const eventStatsScale = eventType ? statsScale(footer, source.timestampField, eventType) : null;
    return { shown, handle, footer, columnNames: schema.fields.map((f) => f.name), schema, eventStatsScale };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Decodes row group `g` into Arrow record batches. */
async function readRowGroup(source: ParquetSourceDef, opened: OpenedFile, g: number): Promise<RecordBatch[]> {
  const info = opened.footer.rowGroups[g];
  if (!info) return [];
  const [start, end] = info.byteRange;
  const body = await readAt(opened.handle, start, end - start);
  if (body.length !== end - start) throw corrupt(source, opened.shown, `row group ${g} extends past the end of the file`);
  try {
    const table = readParquet(rowGroupFile(opened.footer, g, body), { batchSize: Math.max(info.numRows, 1) });
    return tableFromIPC(table.intoIPCStream()).batches;
  } catch (err) {
    throw corrupt(source, opened.shown, `row group ${g}: ${errorText(err)}`, err);
  }
}

/** Column names rows will have (after fieldMapping), from the first file's schema. */
export async function parquetSourceColumns(source: ParquetSourceDef, opts: SourceReadOptions): Promise<string[]> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  const opened = await openParquet(source, files[0] as string, opts.repoDir);
  try {
    return [...planColumns(source, opened.columnNames, files.length > 1 ? opened.shown : null).outputNames];
  } finally {
    await opened.handle.close();
  }
}

/** Column types by source column name (before fieldMapping), from the first file's schema. */
export async function parquetSourceColumnTypes(source: ParquetSourceDef, opts: SourceReadOptions): Promise<Map<string, SourceColumnType>> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  const opened = await openParquet(source, files[0] as string, opts.repoDir);
  await opened.handle.close();
  return new Map(opened.schema.fields.map((f) => [f.name, { kind: arrowColumnKind(f.type), nullable: f.nullable, declared: String(f.type) }]));
}

const UNIT_SCALE: Record<number, { mul: bigint; div: bigint }> = {
  [TimeUnit.SECOND]: { mul: 1000n, div: 1n },
  [TimeUnit.MILLISECOND]: { mul: 1n, div: 1n },
  [TimeUnit.MICROSECOND]: { mul: 1n, div: 1000n },
  [TimeUnit.NANOSECOND]: { mul: 1n, div: 1_000_000n },
};

/**
 * How to read the event column's statistics as epoch ms. The Parquet logical type says how values
 * are stored; without one, the Arrow type (restored from arrow-rs's embedded schema) gives the unit.
 */
function statsScale(footer: ParquetFooter, column: string, arrowType: DataType): StatsScale | null {
  const leaf = footer.leaves.get(column);
  if (!leaf) return null;
  const enc = leaf.encoding;
  if (enc.kind === "timestamp") return { kind: "int", mul: 1n, div: BigInt(enc.unitsPerMs), unsigned: false };
  if (enc.kind === "date") return { kind: "int", mul: 86_400_000n, div: 1n, unsigned: false };
  if (enc.kind === "float") return arrowType.typeId === Type.Float ? { kind: "float" } : null;
  if (enc.kind !== "signed" && enc.kind !== "unsigned") return null;
  const unsigned = enc.kind === "unsigned";
  const t = arrowType as unknown as { unit?: number };
  switch (arrowType.typeId) {
    case Type.Timestamp: {
      const scale = UNIT_SCALE[t.unit ?? -1];
      return scale ? { kind: "int", ...scale, unsigned } : null;
    }
    case Type.Date:
      return { kind: "int", mul: t.unit === DateUnit.DAY ? 86_400_000n : 1n, div: 1n, unsigned };
    case Type.Int:
      return { kind: "int", mul: 1n, div: 1n, unsigned };
    default:
      return null;
  }
}

/** Whether the row group's statistics prove that no event time lies in the range. */
function rowGroupOutsideRange(opened: OpenedFile, rowGroup: number, column: string, range: TimeRange): boolean {
  if (!range.bounded || !opened.eventStatsScale) return false;
  const stats = opened.footer.rowGroups[rowGroup]?.columns.find((c) => c.column === column);
  // A group with null event times is read anyway, so that the null is reported whatever the range.
  if (!stats || stats.nullCount !== 0) return false;
  const bounds = chunkTimeBoundsMs(stats, opened.eventStatsScale);
  if (!bounds) return false;
  return bounds[1] < range.start || bounds[0] >= range.end;
}

function keptRows(eventMs: Float64Array, range: TimeRange): Int32Array {
  const n = eventMs.length;
  if (!range.bounded) return identity(n);
  const kept = new Int32Array(n);
  let m = 0;
  const { start, end } = range;
  for (let i = 0; i < n; i++) {
    const t = eventMs[i] as number;
    if (t >= start && t < end) kept[m++] = i;
  }
  return m === n ? identity(n) : kept.subarray(0, m);
}

/**
 * How many rows a read of the source will scan: the footers' row counts of the row groups whose
 * event-time statistics overlap the range (an upper bound of the rows yielded; exact when every
 * scanned group lies inside the range). Reads footers only.
 */
export async function parquetSourceRowCount(source: ParquetSourceDef, opts: SourceReadOptions): Promise<number> {
  const range = resolveRange(opts);
  let rows = 0;
  for (const file of await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet")) {
    const opened = await openParquet(source, file, opts.repoDir);
    try {
      for (let g = 0; g < opened.footer.rowGroups.length; g++) {
        if (!rowGroupOutsideRange(opened, g, source.timestampField, range)) rows += opened.footer.rowGroups[g]?.numRows ?? 0;
      }
    } finally {
      await opened.handle.close();
    }
  }
  return rows;
}

/**
 * Yields rows of a Parquet source in batches of at most `batchSize`, in file order (files sorted by
 * path, row groups and rows in file order).
 */
export async function* readParquetSource(source: ParquetSourceDef, opts: SourceReadOptions): AsyncGenerator<Row[]> {
  const range = resolveRange(opts);
  const batchSize = resolveBatchSize(opts);
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  let batch: Row[] = [];
  for (const file of files) {
    const opened = await openParquet(source, file, opts.repoDir);
    try {
      const plan = planColumns(source, opened.columnNames, files.length > 1 ? opened.shown : null);
      const build = compileColumnsRowBuilder(plan.outputNames);
      // Column buffers reused for every chunk of CONVERT_CHUNK rows.
      const cols = plan.sourceNames.map(() => new Array<unknown>(CONVERT_CHUNK).fill(null));
      let rowBase = 0;
      for (let g = 0; g < opened.footer.rowGroups.length; g++) {
        const groupRows = opened.footer.rowGroups[g]?.numRows ?? 0;
        if (groupRows === 0 || rowGroupOutsideRange(opened, g, source.timestampField, range)) {
          rowBase += groupRows;
          continue;
        }
        for (const rb of await readRowGroup(source, opened, g)) {
          const n = rb.numRows;
          const { kept, readers } = prepareBatch(source, opened, plan, rb, rowBase, range);
          rowBase += n;
          let pos = 0;
          while (pos < kept.length) {
            // Convert a few thousand rows at a time: the column arrays stay small and short-lived.
            const take = Math.min(batchSize - batch.length, kept.length - pos, CONVERT_CHUNK);
            for (let j = 0; j < readers.length; j++) (readers[j] as ColumnReader)(kept, pos, pos + take, cols[j]);
            for (let k = 0; k < take; k++) batch.push(build(cols, k));
            pos += take;
            if (batch.length === batchSize) {
              yield batch;
              batch = [];
            }
          }
        }
      }
    } finally {
      await opened.handle.close();
    }
  }
  if (batch.length > 0) yield batch;
}

function prepareBatch(
  source: ParquetSourceDef,
  opened: OpenedFile,
  plan: ColumnPlan,
  rb: RecordBatch,
  rowBase: number,
  range: TimeRange,
): { kept: Int32Array; readers: ColumnReader[] } {
  const names = rb.schema.fields.map((f) => f.name);
  const chunks: Data[] = plan.sourceNames.map((name) => {
    const data = rb.data.children[names.indexOf(name)];
    if (!data) throw corrupt(source, opened.shown, `column ${JSON.stringify(name)} is missing from a row group`);
    return data;
  });
  const ctx = (column: string): ChunkContext => ({
    source: source.name,
    column,
    describeRow: (i) => `${opened.shown}, row index ${rowBase + i}`,
  });
  const eventMs = timeMs(chunks[plan.eventIndex] as Data, ctx(source.timestampField), false);
  const createdMs = plan.createdIndex >= 0 ? timeMs(chunks[plan.createdIndex] as Data, ctx(source.createdTimestampField as string), true) : null;
  const kept = keptRows(eventMs, range);
  if (kept.length === 0) return { kept, readers: [] };
  const readers = chunks.map((data, j) => {
    if (j === plan.eventIndex) return dateReader(eventMs);
    if (j === plan.createdIndex && createdMs) return dateReader(createdMs);
    return columnReader(data, ctx(plan.sourceNames[j] as string));
  });
  return { kept, readers };
}
