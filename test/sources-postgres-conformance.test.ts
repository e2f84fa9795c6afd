/** The sources port's conformance suite against Postgres sources (a schema of its own per run). */
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import pg from "pg";
import { postgresSource } from "../src/definitions/sources.js";
import { runSourceReaderConformance } from "./conformance/source-reader.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const url = testPostgresUrl();
const schema = `larder_src_conf_${process.pid}_${randomBytes(3).toString("hex")}`;

async function sql(text: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

if (!(await postgresAvailable(url)) && !requireServices()) {
  test("Postgres source conformance (skipped: no Postgres at LARDER_TEST_POSTGRES_URL)", { skip: true }, () => undefined);
} else {
  runSourceReaderConformance("postgres", async () => {
    await sql(`create schema ${schema}`);
    return {
      opts: { repoDir: "/unused", postgresUrl: url },
      async make(name, rows, options = {}) {
        await sql(`create table ${schema}.${name} (id bigint, ts timestamptz, created timestamptz, amount float8, plan text, active boolean)`);
        for (const r of rows) {
          await sql(`insert into ${schema}.${name} values ($1, $2, $3, $4, $5, $6)`, [r.id, new Date(r.ts), r.created === null ? null : new Date(r.created), r.amount, r.plan, r.active]);
        }
        return postgresSource({ name, table: `${schema}.${name}`, timestampField: "ts", createdTimestampField: options.createdTimestampField ?? undefined, fieldMapping: options.fieldMapping ?? {} });
      },
      missing: (name) => postgresSource({ name, table: `${schema}.no_such_table`, timestampField: "ts" }),
      cleanup: () => sql(`drop schema ${schema} cascade`),
    };
  });
}
