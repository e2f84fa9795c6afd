/**
 * Reads CSV sources as a stream (csv-parse), typing cells as it goes: an empty cell is null, a
 * number is a number, true/false are booleans, anything else stays a string; the time columns
 * become Dates.
 */
import { createReadStream } from "node:fs";
import { pipeline, type Readable } from "node:stream";
import { type CsvError, type Info, parse } from "csv-parse";
import type { CsvSourceDef } from "../../definitions/definition-types.js";
import { LarderError } from "../../errors.js";
import { epochMsOf, parseIsoMs } from "../../time.js";
import { csvColumnKind, type SourceColumnType } from "../source-column-type.js";
import type { Row } from "../../types.js";
import { compileValuesRowBuilder, planColumns, resolveBatchSize, resolveRange } from "../column-plan.js";
import type { SourceReadOptions } from "../source-reader.js";
import { displayPath, resolveSourceFiles } from "../source-files.js";

const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_RE = /^[+-]?\d+$/;

type Cell = string | number | boolean | null;

/**
 * Types one CSV cell. Integers beyond ±(2^53 - 1) are a VALUE_OUT_OF_RANGE error (as for int64
 * columns), since as numbers they would silently change; `outOfRange` throws it.
 */
export function typeCsvCell(s: string, outOfRange: (s: string) => never): Cell {
  if (s === "") return null;
  const c = s.charCodeAt(0);
  // Only strings starting with a digit, sign or dot can be numbers; skip the regex for the rest.
  if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) {
    if (NUMBER_RE.test(s)) {
      const n = Number(s);
      if (!Number.isSafeInteger(n) && INTEGER_RE.test(s)) outOfRange(s);
      return n;
    }
    return s;
  }
  if (s === "true" || s === "True" || s === "TRUE") return true;
  if (s === "false" || s === "False" || s === "FALSE") return false;
  return s;
}

/** Epoch ms of a time cell (ISO-8601, zone-less = UTC, or epoch ms); NaN if it is neither. */
export function csvTimeMs(s: string): number {
  return NUMBER_RE.test(s) ? epochMsOf(Math.floor(Number(s))) : parseIsoMs(s);
}

function parser(delimiter: string, options: { to?: number; info?: boolean } = {}) {
  return parse({ delimiter, bom: true, skip_empty_lines: true, ...options });
}

/**
 * The records of a stream in chunks of whatever is buffered: one await per chunk instead of one
 * per record, which halves the cost of reading. Destroys the stream when the consumer stops.
 */
async function* recordChunks(stream: Readable): AsyncGenerator<string[][]> {
  let error: unknown = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  stream.on("readable", notify);
  stream.on("end", () => {
    ended = true;
    notify();
  });
  stream.on("error", (err) => {
    error = err;
    notify();
  });
  try {
    for (;;) {
      const chunk: string[][] = [];
      let record: string[] | null;
      while ((record = stream.read() as string[] | null) !== null) chunk.push(record);
      if (chunk.length > 0) {
        yield chunk;
        continue;
      }
      if (error) throw error;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stream.destroy();
  }
}

function openRecords(file: string, delimiter: string, options: { to?: number } = {}): AsyncGenerator<string[][]> {
  const p = parser(delimiter, options);
  // pipeline destroys the file stream when the parser ends early (a consumer's `break`) or fails.
  pipeline(createReadStream(file), p, () => {});
  return recordChunks(p);
}

/**
 * The line on which record `index` (0 = the header) ends. Tracking lines while reading doubles
 * csv-parse's cost, so they are found again only when an error needs one.
 */
async function lineOfRecord(file: string, delimiter: string, index: number): Promise<number | null> {
  const p = parser(delimiter, { to: index + 1, info: true });
  pipeline(createReadStream(file), p, () => {});
  let line: number | null = null;
  try {
    for await (const { info } of p as AsyncIterable<{ info: Info }>) line = info.lines;
  } catch {
    // The error being reported is the one that matters.
  }
  return line;
}

function readError(source: CsvSourceDef, shown: string, err: unknown): LarderError {
  if (err instanceof LarderError) return err;
  const csv = err as Partial<CsvError> & { lines?: number };
  const where = typeof csv.lines === "number" ? ` line ${csv.lines}` : "";
  const message = err instanceof Error ? err.message : String(err);
  return new LarderError("SOURCE_READ_ERROR", `source ${JSON.stringify(source.name)}: cannot read ${shown}${where}: ${message}`, { source: source.name, file: shown }, { cause: err });
}

function emptyFile(source: CsvSourceDef, shown: string): LarderError {
  return new LarderError("SOURCE_READ_ERROR", `source ${JSON.stringify(source.name)}: ${shown} is empty (a header line is required)`, { source: source.name, file: shown });
}

/** A bad cell, whose error message is completed with its line once that is known. */
class CellError {
  constructor(
    readonly record: number,
    readonly make: (where: string) => LarderError,
  ) {}
}

/** The header line of one file of the source (SOURCE_READ_ERROR when the file is empty or unreadable). */
export async function csvFileHeader(source: CsvSourceDef, file: string, shown: string): Promise<string[]> {
  try {
    for await (const chunk of openRecords(file, source.delimiter, { to: 1 })) if (chunk[0]) return chunk[0];
  } catch (err) {
    throw readError(source, shown, err);
  }
  throw emptyFile(source, shown);
}

/** Rows of the first file read to infer its column types (CSV has none of its own). */
const TYPE_SAMPLE_ROWS = 1000;

/** Column types by source column name (before fieldMapping), inferred from the first file's first rows. */
export async function csvSourceColumnTypes(source: CsvSourceDef, opts: SourceReadOptions): Promise<Map<string, SourceColumnType>> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".csv");
  const file = files[0] as string;
  const shown = displayPath(file, opts.repoDir);
  let header: string[] | null = null;
  const cells: (string | number | boolean | null)[][] = [];
  const keep = (s: string): never => {
    throw new LarderError("VALUE_OUT_OF_RANGE", s);
  };
  try {
    for await (const chunk of openRecords(file, source.delimiter, { to: TYPE_SAMPLE_ROWS + 1 })) {
      for (const record of chunk) {
        if (header === null) {
          header = record;
          header.forEach(() => cells.push([]));
          continue;
        }
        record.forEach((s, j) => {
          let v: string | number | boolean | null;
          try {
            v = typeCsvCell(s, keep);
          } catch {
            v = s; // beyond ±2^53: not a number a push could give either
          }
          cells[j]?.push(v);
        });
      }
    }
  } catch (err) {
    throw readError(source, shown, err);
  }
  if (header === null) throw emptyFile(source, shown);
  return new Map(
    (header as string[]).map((name, j) => {
      const kind = csvColumnKind(cells[j] ?? []);
      return [name, { kind, nullable: true, declared: kind === "any" ? "CSV values of mixed types" : `CSV ${kind} values` }];
    }),
  );
}

/** Column names rows will have (after fieldMapping), from the first file's header line. */
export async function csvSourceColumns(source: CsvSourceDef, opts: SourceReadOptions): Promise<string[]> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".csv");
  const file = files[0] as string;
  const shown = displayPath(file, opts.repoDir);
  const header = await csvFileHeader(source, file, shown);
  return [...planColumns(source, header, files.length > 1 ? shown : null).outputNames];
}

/** Yields rows of a CSV source in batches of at most `batchSize`, in file order. */
export async function* readCsvSource(source: CsvSourceDef, opts: SourceReadOptions): AsyncGenerator<Row[]> {
  const { start, end } = resolveRange(opts);
  const batchSize = resolveBatchSize(opts);
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".csv");
  const srcName = JSON.stringify(source.name);
  let batch: Row[] = [];
  for (const file of files) {
    const shown = displayPath(file, opts.repoDir);
    let header: string[] | null = null;
    let build: ((values: readonly unknown[]) => Row) | null = null;
    let eventIndex = -1;
    let createdIndex = -1;
    let names: readonly string[] = [];
    let rangeChecks: ((s: string) => never)[] = [];
    let recordNo = -1; // 0 is the header
    const outOfRange =
      (column: string) =>
      (s: string): never => {
        throw new CellError(
          recordNo,
          (where) =>
            new LarderError("VALUE_OUT_OF_RANGE", `source ${srcName}: column ${JSON.stringify(column)} value ${s} is beyond ±2^53 and cannot be a JavaScript number (${where})`, {
              source: source.name,
              column,
              value: s,
            }),
        );
      };
    const badTime = (column: string, s: string): CellError =>
      new CellError(
        recordNo,
        (where) =>
          new LarderError(
            "INVALID_TIMESTAMP",
            `source ${srcName}: column ${JSON.stringify(column)} has ${s === "" ? "a null event timestamp" : `invalid timestamp ${JSON.stringify(s)}`} (${where}); expected an ISO-8601 string or epoch milliseconds`,
            { source: source.name, column, value: s === "" ? null : s },
          ),
      );
    try {
      for await (const records of openRecords(file, source.delimiter)) {
        for (const record of records) {
          recordNo++;
          if (header === null) {
            header = record;
            const plan = planColumns(source, header, files.length > 1 ? shown : null);
            build = compileValuesRowBuilder(plan.outputNames);
            eventIndex = plan.eventIndex;
            createdIndex = plan.createdIndex;
            names = plan.sourceNames;
            rangeChecks = names.map((n) => outOfRange(n));
            continue;
          }
          const eventCell = record[eventIndex] ?? "";
          const eventMs = eventCell === "" ? Number.NaN : csvTimeMs(eventCell);
          if (Number.isNaN(eventMs)) throw badTime(source.timestampField, eventCell);
          if (eventMs < start || eventMs >= end) continue;
          const values = new Array<unknown>(record.length);
          for (let j = 0; j < record.length; j++) {
            const cell = record[j] as string;
            if (j === eventIndex) values[j] = new Date(eventMs);
            else if (j === createdIndex) {
              if (cell === "") values[j] = null;
              else {
                const ms = csvTimeMs(cell);
                if (Number.isNaN(ms)) throw badTime(names[j] as string, cell);
                values[j] = new Date(ms);
              }
            } else values[j] = typeCsvCell(cell, rangeChecks[j] as (s: string) => never);
          }
          batch.push((build as (values: readonly unknown[]) => Row)(values));
          if (batch.length === batchSize) {
            yield batch;
            batch = [];
          }
        }
      }
    } catch (err) {
      if (err instanceof CellError) {
        const line = await lineOfRecord(file, source.delimiter, err.record);
        throw err.make(line === null ? `${shown} record ${err.record}` : `${shown} line ${line}`);
      }
      throw readError(source, shown, err);
    }
    if (header === null) throw emptyFile(source, shown);
  }
  if (batch.length > 0) yield batch;
}
