/**
 * The serving benchmark's peers: the simplest online feature server one would write by hand.
 * fastify, ioredis with default options, features stored as one Redis hash per (view, entity)
 * (`naive:<view>:<id>` with a field per feature and `_ts`), one HMGET per view and entity row.
 * No validation, no TTL check, no on-demand features, no auth. It answers in Feast's response
 * shape so the load generator sends every server the same body.
 *
 * Two modes: `naive` sends the HMGETs as separate commands (each its own socket write, as ioredis
 * does by default); `--pipeline` sends all of a request's HMGETs as one ioredis pipeline, one write
 * and one round trip per request, as Larder's one MGET is.
 *
 * bench/serving.ts compiles this file to plain JavaScript (TypeScript's transpileModule, as tsc
 * does for dist/) and runs it with node, so it pays no tsx loader cost, like Larder from dist/:
 *
 *   node bench/out/naive-server.mjs --port 0 --redis redis://127.0.0.1:6379 [--pipeline]   (prints "listening <port>")
 *
 * `writeNaiveHashes` (used by bench/serving.ts) stores the data in this layout.
 */
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { Redis } from "ioredis";

interface Body {
  features: string[];
  entities: Record<string, (number | string)[]>;
}

export function naiveKey(view: string, id: number | string): string {
  return `naive:${view}:${id}`;
}

/** Writes one hash per (view, entity) with pipelined HSETs, 1,000 per pipeline. */
export async function writeNaiveHashes(redis: Redis, view: string, features: readonly string[], ids: ArrayLike<number>, ts: ArrayLike<number>, values: readonly ArrayLike<number>[]): Promise<void> {
  for (let start = 0; start < ids.length; start += 1000) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(ids.length, start + 1000); i++) {
      const args: (string | number)[] = ["_ts", ts[i]!];
      features.forEach((f, k) => args.push(f, values[k]![i]!));
      p.hset(naiveKey(view, ids[i]!), ...args);
    }
    await p.exec();
  }
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: { port: { type: "string", default: "0" }, redis: { type: "string", default: "redis://127.0.0.1:6379" }, pipeline: { type: "boolean", default: false } },
  });
  const redis = new Redis(args.redis);
  const app = Fastify({ logger: false });

  /** Every view's HMGETs in one pipeline: one write, one round trip. Replies per view, per entity. */
  async function pipelined(viewList: [string, string[]][], ids: (number | string)[]): Promise<(string | null)[][][]> {
    const p = redis.pipeline();
    for (const [view, fs] of viewList) for (const id of ids) p.hmget(naiveKey(view, id), "_ts", ...fs);
    const answers = (await p.exec()) ?? [];
    return viewList.map((_, v) =>
      ids.map((_id, i) => {
        const [err, reply] = answers[v * ids.length + i] ?? [new Error("no reply"), null];
        if (err) throw err;
        return reply as (string | null)[];
      }),
    );
  }

  app.post<{ Body: Body }>("/get-online-features", async (req) => {
    const { features, entities } = req.body;
    const [keyName, ids] = Object.entries(entities)[0]!;
    // Group the requested features by view, keeping request order.
    const views = new Map<string, string[]>();
    for (const ref of features) {
      const [view, feature] = ref.split(":") as [string, string];
      const list = views.get(view);
      if (list) list.push(feature);
      else views.set(view, [feature]);
    }
    const viewList = [...views];
    const replies = args.pipeline ? await pipelined(viewList, ids) : await Promise.all(viewList.map(([view, fs]) => Promise.all(ids.map((id) => redis.hmget(naiveKey(view, id), "_ts", ...fs)))));
    const results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[] = [{ values: ids, statuses: ids.map(() => "PRESENT"), event_timestamps: ids.map(() => "1970-01-01T00:00:00.000Z") }];
    viewList.forEach(([, fs], v) => {
      const rows = replies[v]!;
      const ts = rows.map((r) => new Date(r[0] === null ? 0 : Number(r[0])).toISOString());
      fs.forEach((_, k) => {
        results.push({
          values: rows.map((r) => (r[k + 1] == null ? null : Number(r[k + 1]))),
          statuses: rows.map((r) => (r[0] === null ? "NOT_FOUND" : "PRESENT")),
          event_timestamps: ts,
        });
      });
    });
    return { metadata: { feature_names: [keyName, ...viewList.flatMap(([, fs]) => fs)] }, results };
  });

  const address = await app.listen({ host: "127.0.0.1", port: Number(args.port) });
  console.log(`listening ${new URL(address).port}`);
  const stop = async () => {
    await app.close();
    redis.disconnect();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
