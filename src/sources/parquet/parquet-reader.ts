/**
 * Parquet sources: rows are read by ./parquet-source.ts; the offline engine reads the files itself
 * (read_parquet) when a pipeline needs no rows in JavaScript.
 */
import type { ParquetSourceDef } from "../../definitions/definition-types.js";
import { sqlFileList, type OfflineEngine } from "../../offline/duckdb-engine.js";
import type { SourceReader, SourceReadOptions, SourceScan } from "../source-reader.js";
import { resolveSourceFiles } from "../source-files.js";
import { parquetSourceColumns, parquetSourceColumnTypes, parquetSourceRowCount, readParquetSource } from "./parquet-source.js";

async function scanParquet(engine: OfflineEngine, source: ParquetSourceDef, opts: SourceReadOptions): Promise<SourceScan> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  // The row reader's schema checks give the errors a read gives (time columns, mapping clashes, corrupt footers).
  const mapped = await parquetSourceColumns(source, opts);
  const relation = `read_parquet(${sqlFileList(files)})`;
  const described = await engine.rows(`DESCRIBE SELECT * FROM ${relation}`);
  const columns = described.map((d, i) => ({ source: String(d["column_name"]), name: mapped[i] ?? String(d["column_name"]), type: String(d["column_type"]) }));
  // file_index and file_row_number are the reader's virtual columns: the order rows are read in,
  // as one sort key (a narrower key sorts faster).
  const readOrder = files.length === 1 ? "file_row_number" : "(CAST(file_index AS BIGINT) << 40) + file_row_number";
  return { relation, columns, cells: "typed", readOrder: [readOrder] };
}

export const parquetReader: SourceReader<ParquetSourceDef> = {
  read: readParquetSource,
  columns: parquetSourceColumns,
  columnTypes: parquetSourceColumnTypes,
  estimateRows: parquetSourceRowCount,
  scan: scanParquet,
};
