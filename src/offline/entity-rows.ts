import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import type { Table } from "apache-arrow";
import { parse } from "csv-parse/sync";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";
import { columnFromValues, type ColumnarBatch } from "../data/columnar.js";
import { batchToArrowTable, readParquetFile } from "./parquet-io.js";

/**
 * Reads entity rows for a training set from Parquet or CSV. CSV columns get the narrowest type
 * that holds every value (int64, float64, bool, else string); empty cells are null. Timestamps in
 * CSV stay strings and pass through as written; `event_timestamp` is parsed by the join.
 */
export async function readEntityRows(path: string): Promise<Table> {
  if (!existsSync(path)) throw new LarderError("SOURCE_NOT_FOUND", `entities file ${path} not found`, { path });
  const ext = extname(path).toLowerCase();
  if (ext === ".csv" || ext === ".tsv") return readCsvEntities(path, ext === ".tsv" ? "\t" : ",");
  return readParquetFile(path);
}

async function readCsvEntities(path: string, delimiter: string): Promise<Table> {
  let records: string[][];
  try {
    records = parse(await readFile(path), { delimiter, relax_column_count: false, skip_empty_lines: true, bom: true }) as string[][];
  } catch (err) {
    throw new LarderError("INVALID_ENTITIES", `entities file ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  const header = records[0];
  if (!header) throw new LarderError("INVALID_ENTITIES", `entities file ${path} is empty (expected a header line)`, { path });
  const rows = records.slice(1);
  const batch: ColumnarBatch = { numRows: rows.length, columns: new Map() };
  header.forEach((name, c) => {
    const raw = rows.map((r) => (r[c] === "" || r[c] === undefined ? null : r[c]!));
    const type = inferType(raw);
    const values = raw.map((v) => (v === null ? null : type === "bool" ? v.toLowerCase() === "true" : type === "string" ? v : Number(v)));
    batch.columns.set(name, columnFromValues(type, values, name));
  });
  return batchToArrowTable(batch);
}

function inferType(values: (string | null)[]): ValueType {
  let ints = true;
  let nums = true;
  let bools = true;
  let any = false;
  for (const v of values) {
    if (v === null) continue;
    any = true;
    if (ints && !/^-?\d+$/.test(v)) ints = false;
    if (nums && (v.trim() === "" || !Number.isFinite(Number(v)))) nums = false;
    if (bools && !/^(true|false)$/i.test(v)) bools = false;
    if (!ints && !nums && !bools) return "string";
  }
  if (!any) return "string";
  if (ints && values.every((v) => v === null || Number.isSafeInteger(Number(v)))) return "int64";
  if (nums) return "float64";
  if (bools) return "bool";
  return "string";
}
