import type { PGlite } from "@electric-sql/pglite";
import { CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings } from "kysely";

/**
 * A kysely driver over one PGlite instance. PGlite is a single session, so the driver hands out its
 * one connection to one caller at a time (as kysely's SQLite driver does): a transaction holds it
 * from `begin` to `commit`, and other queries wait instead of landing inside someone else's
 * transaction. The driver does not own the instance: `destroy` leaves it open for its creator.
 */
export class PgliteDriver implements Driver {
  readonly #connection: PgliteConnection;
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;

  constructor(pglite: PGlite) {
    this.#connection = new PgliteConnection(pglite);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#release = release;
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let begin = "begin";
    if (settings.isolationLevel || settings.accessMode) {
      begin = "start transaction";
      if (settings.isolationLevel) begin += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode) begin += ` ${settings.accessMode}`;
    }
    await connection.executeQuery(CompiledQuery.raw(begin));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    // Let whoever holds the connection finish before the owner closes PGlite.
    await this.#tail;
  }
}

const COUNTED_COMMANDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

class PgliteConnection implements DatabaseConnection {
  constructor(readonly pglite: PGlite) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    // Without parameters, use the simple protocol (exec), which also runs multi-statement scripts
    // such as migrations; the last statement's result is the answer, as with pg.
    const results = compiledQuery.parameters.length === 0 ? await this.pglite.exec(compiledQuery.sql) : [await this.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters])];
    const last = results[results.length - 1];
    if (last === undefined) return { rows: [] };
    const command = last.command?.toUpperCase() ?? "";
    return {
      rows: (last.rows ?? []) as R[],
      ...(COUNTED_COMMANDS.has(command) ? { numAffectedRows: BigInt(last.rowCount ?? last.affectedRows ?? 0) } : {}),
    };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("the PGlite registry driver does not stream query results");
  }
}
