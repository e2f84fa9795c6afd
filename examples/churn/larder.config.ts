import { defineConfig } from "larder-feature-store";

/**
 * The churn example's feature repository. With no environment set it runs on embedded backends
 * (a PGlite registry under .larder/, an embedded online store) and local Parquet files; set
 * LARDER_REGISTRY_URL, LARDER_ONLINE_URL and LARDER_SOURCE_POSTGRES_URL to use real services.
 */
export default defineConfig({
  project: "churn",
  definitions: ["./features.ts"],
  registry: process.env.LARDER_REGISTRY_URL ?? "embedded", // "postgres://…" | "embedded" (PGlite under .larder/)
  online: process.env.LARDER_ONLINE_URL ?? "embedded", // "redis://…" | "redis-cluster://h:p,h:p" | "embedded"
  offline: { path: "./data/offline" },
  // Default connection of postgresSource()s; unset means transactions come from data/transactions.parquet.
  sources: { postgres: process.env.LARDER_SOURCE_POSTGRES_URL },
});
