import { formatTextTable } from "./text-table.js";
import type { RunRecord } from "../registry/registry-store.js";

/**
 * One run as `larder runs --json` prints it: ISO-8601 times, duration in ms (null while running).
 * Status "abandoned": its process stopped renewing the lease (killed, or hung) — see RunRecord.
 */
export interface RunJson {
  id: string;
  kind: string;
  view: string;
  rangeStart: string | null;
  rangeEnd: string | null;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  rows: number | null;
  error: string | null;
  /** The scheduled tick of a run of kind "schedule"; null otherwise. */
  tick: string | null;
  /** The run's last lease renewal, and its lease's end (a running run past it is "abandoned"). */
  heartbeatAt: string | null;
  leaseUntil: string | null;
}

export function runToJson(run: RunRecord): RunJson {
  return {
    id: run.id,
    kind: run.kind,
    view: run.view,
    rangeStart: run.rangeStart?.toISOString() ?? null,
    rangeEnd: run.rangeEnd?.toISOString() ?? null,
    status: run.status,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationMs: run.finishedAt === null ? null : run.finishedAt.getTime() - run.startedAt.getTime(),
    rows: run.rows,
    error: run.error,
    tick: run.slot?.toISOString() ?? null,
    heartbeatAt: run.heartbeatAt?.toISOString() ?? null,
    leaseUntil: run.leaseUntil?.toISOString() ?? null,
  };
}

/** An instant without zero milliseconds: 2024-03-01T01:00:00Z. */
function instant(d: Date): string {
  return d.toISOString().replace(".000Z", "Z");
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * The run history as an aligned text table, newest first: started, kind, view, range, status,
 * duration, rows, error (one line; a running run has no duration yet).
 */
export function formatRunsTable(runs: readonly RunRecord[]): string {
  const header = ["STARTED", "KIND", "VIEW", "RANGE", "STATUS", "DURATION", "ROWS", "ERROR"];
  const rows = runs.map((r) => [
    instant(r.startedAt),
    r.kind,
    r.view,
    r.rangeStart === null && r.rangeEnd === null ? "-" : `${r.rangeStart ? instant(r.rangeStart) : "…"} → ${r.rangeEnd ? instant(r.rangeEnd) : "…"}`,
    r.status,
    r.finishedAt === null ? "-" : formatDuration(r.finishedAt.getTime() - r.startedAt.getTime()),
    r.rows === null ? "-" : r.rows.toLocaleString("en-US"),
    r.error === null ? "" : r.error.replace(/\s*\n\s*/g, " "),
  ]);
  return formatTextTable(header, rows, { right: [6] });
}
