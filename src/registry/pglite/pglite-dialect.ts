import type { PGlite } from "@electric-sql/pglite";
import { PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type DatabaseIntrospector, type Dialect, type DialectAdapter, type Driver, type Kysely, type QueryCompiler } from "kysely";
import { PgliteDriver } from "./pglite-driver.js";

/**
 * A kysely dialect over an open PGlite instance (kysely 0.28 ships none). PGlite speaks Postgres,
 * so the adapter, compiler and introspector are kysely's Postgres ones; only the driver is ours.
 *
 * @example
 * const db = new Kysely<Tables>({ dialect: new PgliteDialect(await PGlite.create(dir)) });
 */
export class PgliteDialect implements Dialect {
  constructor(readonly pglite: PGlite) {}

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PgliteDriver(this.pglite);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
