/**
 * Postgres sources: read through a pg cursor (./postgres-source.ts). The offline engine does not
 * read them itself: pipelines append the rows they read.
 */
import type { PostgresSourceDef } from "../../definitions/definition-types.js";
import type { SourceReader } from "../source-reader.js";
import { postgresSourceColumns, postgresSourceColumnTypes, postgresSourceRowEstimate, readPostgresSource } from "./postgres-source.js";

export const postgresReader: SourceReader<PostgresSourceDef> = {
  read: readPostgresSource,
  columns: postgresSourceColumns,
  columnTypes: postgresSourceColumnTypes,
  estimateRows: postgresSourceRowEstimate,
};
