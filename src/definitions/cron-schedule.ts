import cron from "node-cron";

/**
 * Feature-view schedules: cron expressions as node-cron reads them, always in UTC (Larder's
 * timestamps are UTC instants, and servers in different zones must agree on which tick is due).
 * Five fields (minute hour day-of-month month day-of-week), six with leading seconds, or a nickname:
 * @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.
 *
 * @example
 * scheduleError("*\/15 * * * *");                              // undefined: valid
 * previousTick("@hourly", new Date("2024-03-01T05:00:00Z"));   // 2024-03-01T04:00:00.000Z
 */
export const SCHEDULE_TIMEZONE = "UTC";

/** Why `expression` is not a schedule, or undefined if it is one. */
export function scheduleError(expression: string): string | undefined {
  if (typeof expression !== "string" || expression.trim() === "") return "expected a cron expression or @hourly, @daily, …";
  let result: ReturnType<typeof cron.validateDetailed>;
  try {
    result = cron.validateDetailed(expression.trim());
  } catch (err) {
    return (err as Error).message;
  }
  if (result.valid) return undefined;
  return result.errors.map((e) => (e.field === "expression" ? e.message : `${e.field}: ${e.message}`)).join("; ") || "not a cron expression";
}

/** How far back `previousTick` looks before giving up (a Feb 29 on a given weekday recurs within 28 years). */
const MAX_LOOKBACK_DAYS = 366 * 29;
const DAY_MS = 86_400_000;

/**
 * The latest tick of `expression` strictly before `at`, or undefined if there is none in the last
 * 29 years. Walks back a day at a time: node-cron decides whether a day matches (so day-of-month,
 * day-of-week, `L` and `#n` mean what they mean when the schedule fires), and within a matching
 * day the parsed hour/minute/second lists give the latest time before `at`.
 */
export function previousTick(expression: string, at: Date): Date | undefined {
  const expr = expression.trim();
  const fields = cron.parse(expr);
  const hours = [...fields.hour].sort((a, b) => b - a);
  const minutes = [...fields.minute].sort((a, b) => b - a);
  const seconds = [...fields.second].sort((a, b) => b - a);
  const task = cron.createTask(expr, () => {}, { timezone: SCHEDULE_TIMEZONE });
  try {
    const atMs = at.getTime();
    const firstDay = Math.floor(atMs / DAY_MS) * DAY_MS;
    for (let d = 0; d <= MAX_LOOKBACK_DAYS; d++) {
      const day = firstDay - d * DAY_MS;
      // Every time of day in the lists is a tick on a matching day, so one probe tests the day.
      const probe = day + ((hours.at(-1) ?? 0) * 3600 + (minutes.at(-1) ?? 0) * 60 + (seconds.at(-1) ?? 0)) * 1000;
      if (!task.match(new Date(probe))) continue;
      for (const h of hours) {
        for (const m of minutes) {
          for (const s of seconds) {
            const t = day + (h * 3600 + m * 60 + s) * 1000;
            if (t < atMs) return new Date(t);
          }
        }
      }
    }
    return undefined;
  } finally {
    void task.destroy();
  }
}
