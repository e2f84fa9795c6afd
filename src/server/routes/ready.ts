import { z } from "zod";
import { isLarderError, toLarderError, type ErrorCode } from "../../errors.js";
import type { FeatureStore } from "../../feature-store.js";
import { defineRoute } from "../route.js";
import { PROBE_VIEW } from "./health.js";

/** How long each check may take before it counts as down (a readiness probe must answer). */
const CHECK_TIMEOUT_MS = 3000;

type CheckName = "registry" | "online_store";

/** "ok", or "down: [CODE] message". */
type CheckResult = string;

/** Runs `check`; its failure, or no answer within CHECK_TIMEOUT_MS, is "down: …". */
async function probe(check: () => Promise<unknown>, silentCodes: readonly ErrorCode[] = []): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return "ok";
  } catch (err) {
    if (isLarderError(err) && silentCodes.includes(err.code)) return "ok";
    const e = toLarderError(err);
    return `down: [${e.code}] ${e.message}`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The registry answers a query, and the online store a read. A registry that is locked by
 * another process (the embedded one admits one at a time: a CLI backfill holds it) is up: serving
 * does not need it then.
 */
async function readiness(store: FeatureStore): Promise<Record<CheckName, CheckResult>> {
  const [registry, online] = await Promise.all([
    probe(() => store.withRegistry((r) => r.getWatermark(store.project, PROBE_VIEW, "~ready"), { lockTimeoutMs: CHECK_TIMEOUT_MS }), ["REGISTRY_LOCKED"]),
    probe(() => store.withOnlineStore((o) => o.read(store.project, PROBE_VIEW, ["~"], []))),
  ]);
  return { registry, online_store: online };
}

const check = z.string().meta({ description: '"ok", or "down: [CODE] message"' });
const checks = z.object({ registry: check, online_store: check });

/**
 * `GET /ready`: readiness (Kubernetes' convention, next to `/health`): 200 when the registry and
 * the online store both answer, else 503 naming which is down. Needs no API key.
 */
export const readyRoute = defineRoute({
  method: "GET",
  url: "/ready",
  scope: "public",
  operationId: "ready",
  summary: "Readiness: the registry and the online store answer",
  description:
    '200 {"status": "ready", "checks": {"registry": "ok", "online_store": "ok"}}; 503 {"status": "unavailable", "checks": {…, "online_store": "down: [ONLINE_STORE_UNAVAILABLE] …"}, "error": {…}} ' +
    `when either is down (each check waits at most ${CHECK_TIMEOUT_MS / 1000} s).`,
  responses: {
    200: { description: "both answer", schema: z.object({ status: z.literal("ready"), project: z.string(), checks }) },
    503: {
      description: "the registry or the online store is down (REGISTRY_UNAVAILABLE or ONLINE_STORE_UNAVAILABLE)",
      schema: z.object({
        status: z.literal("unavailable"),
        project: z.string(),
        checks,
        error: z.object({ code: z.string(), message: z.string(), path: z.null() }),
      }),
    },
  },
  handler: async ({ store, reply }) => {
    const checks = await readiness(store);
    const down = (Object.entries(checks) as [CheckName, CheckResult][]).filter(([, r]) => r !== "ok");
    if (down.length === 0) return { status: "ready", project: store.project, checks };
    const code: ErrorCode = down[0]![0] === "registry" ? "REGISTRY_UNAVAILABLE" : "ONLINE_STORE_UNAVAILABLE";
    const message = down.map(([name, r]) => `${name.replace("_", " ")} ${r}`).join("; ");
    reply.header("retry-after", "1");
    return reply.code(503).send({ status: "unavailable", project: store.project, checks, error: { code, message, path: null } });
  },
});
