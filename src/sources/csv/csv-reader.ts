/**
 * CSV sources: rows are read by ./csv-source.ts; the offline engine reads the files itself
 * (read_csv, every cell as text, typed afterwards as the row reader types cells) when a pipeline
 * needs no rows in JavaScript.
 */
import type { CsvSourceDef } from "../../definitions/definition-types.js";
import { sqlFileList, sqlString, type OfflineEngine } from "../../offline/duckdb-engine.js";
import { planColumns } from "../column-plan.js";
import type { SourceReader, SourceReadOptions, SourceScan } from "../source-reader.js";
import { displayPath, resolveSourceFiles } from "../source-files.js";
import { csvFileHeader, csvSourceColumns, csvSourceColumnTypes, readCsvSource } from "./csv-source.js";

async function scanCsv(_engine: OfflineEngine, source: CsvSourceDef, opts: SourceReadOptions): Promise<SourceScan | undefined> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".csv");
  const headers: string[][] = [];
  for (const file of files) headers.push(await csvFileHeader(source, file, displayPath(file, opts.repoDir)));
  const header = headers[0]!;
  // Files with different headers are planned one by one by the row reader.
  if (headers.some((h) => h.length !== header.length || h.some((n, i) => n !== header[i]))) return undefined;
  const plan = planColumns(source, header, files.length > 1 ? displayPath(files[0]!, opts.repoDir) : null);
  const types = `{${header.map((n) => `${sqlString(n)}: 'VARCHAR'`).join(", ")}}`;
  // No sniffing: the sniffer guesses (a ragged line can make it read nothing); strict mode reports it.
  const read = `read_csv(${sqlFileList(files)}, auto_detect = false, header = true, columns = ${types}, delim = ${sqlString(source.delimiter)}, quote = '"', escape = '"', strict_mode = true)`;
  // read_csv has no row-number column; row_number() over the read keeps the file order.
  const relation = `(SELECT *, row_number() OVER () AS "__larder_row" FROM ${read})`;
  const columns = header.map((name, i) => ({ source: name, name: plan.outputNames[i]!, type: "VARCHAR" }));
  return { relation, columns, cells: "text", readOrder: ['"__larder_row"'] };
}

export const csvReader: SourceReader<CsvSourceDef> = {
  read: readCsvSource,
  columns: csvSourceColumns,
  columnTypes: csvSourceColumnTypes,
  estimateRows: async () => undefined,
  scan: scanCsv,
};
