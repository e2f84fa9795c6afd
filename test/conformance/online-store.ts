/**
 * The OnlineStore conformance suite: every implementation runs it (online-redis.test.ts,
 * online-redis-cluster.test.ts, online-embedded.test.ts). `open` may be called several times and
 * the stores used at once (the concurrent-writer test opens a second one); every test works in a
 * project of its own, so one store serves the whole suite. Callers isolate runs by key prefix or
 * directory and clean up after.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { encodeEntityKey } from "../../src/data/entity-keys.js";
import { readViews, type OnlineRow, type OnlineStore } from "../../src/online/online-store.js";

export function runOnlineStoreConformance(name: string, open: () => Promise<OnlineStore>): void {
  describe(`OnlineStore conformance: ${name}`, () => {
    let store: OnlineStore;
    const runId = randomBytes(3).toString("hex");
    let counter = 0;
    const newProject = (): string => `conf_${runId}_${++counter}`;
    const key = (...parts: (string | number)[]): string => encodeEntityKey(parts);
    const NO_TTL = { ttlMs: null };

    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    test("every value kind round-trips: numbers (negative, fractional, large), unicode strings, booleans, null", async () => {
      const p = newProject();
      const features = ["int", "neg", "frac", "big", "str", "uni", "empty", "yes", "no", "nil"];
      const values = [42, -7, 0.1 + 0.2, 2 ** 53 - 1, 'plain, with "quotes" and \\ and ,', "żółć 猫 🐈‍⬛ \u2028", "", true, false, null];
      const res = await store.write(p, "v", [{ entityKey: key(1), eventTs: 1_700_000_000_123, values }], { features, ...NO_TTL });
      assert.equal(res.written, 1);
      assert.equal(res.stale, 0);
      const [got] = await store.read(p, "v", [key(1)], features);
      assert.ok(got);
      assert.deepEqual(got.values, values);
      assert.equal(got.eventTs, 1_700_000_000_123);
      assert.equal(typeof got.writtenAt, "number");
      assert.ok(Math.abs(got.writtenAt - Date.now()) < 60_000, "writtenAt is the write's wall-clock time");
    });

    test("composite and string entity keys are distinct entities; missing entities read as null in place", async () => {
      const p = newProject();
      const features = ["f"];
      await store.write(
        p,
        "v",
        [
          { entityKey: key(5), eventTs: 1, values: ["number 5"] },
          { entityKey: key("5"), eventTs: 1, values: ["string 5"] },
          { entityKey: key(5, "DE"), eventTs: 1, values: ["5,DE"] },
          { entityKey: key("a,b"), eventTs: 1, values: ["a,b"] },
        ],
        { features, ...NO_TTL },
      );
      const got = await store.read(p, "v", [key(404), key(5), key("5"), key(5, "DE"), key("a", "b"), key("a,b"), key(5)], features);
      assert.deepEqual(
        got.map((g) => g?.values[0] ?? null),
        [null, "number 5", "string 5", "5,DE", null, "a,b", "number 5"],
      );
      assert.deepEqual(await store.read(p, "v", [], features), []);
      assert.deepEqual(await store.read(p, "never_written", [key(5)], features), [null]);
    });

    test("reads return a subset of features in request order; an unknown feature is undefined", async () => {
      const p = newProject();
      await store.write(p, "v", [{ entityKey: key(1), eventTs: 10, values: [1, 2, 3] }], { features: ["a", "b", "c"], ...NO_TTL });
      const [got] = await store.read(p, "v", [key(1)], ["c", "nope", "a"]);
      assert.ok(got);
      assert.equal(got.values.length, 3);
      assert.equal(got.values[0], 3);
      assert.equal(got.values[1], undefined);
      assert.ok(1 in got.values, "the unknown feature has a slot");
      assert.equal(got.values[2], 1);
      const [none] = await store.read(p, "v", [key(1)], []);
      assert.deepEqual(none?.values, []);
    });

    test("readViews answers what one read per view does, in order (also empty, unknown and repeated views, missing keys)", async () => {
      const p = newProject();
      await store.write(
        p,
        "a",
        [
          { entityKey: key(1), eventTs: 5, values: [1, "x"] },
          { entityKey: key(2), eventTs: 6, values: [2, "y"] },
        ],
        { features: ["n", "s"], ...NO_TTL },
      );
      await store.write(p, "b:c", [{ entityKey: key(1), eventTs: 7, values: [true] }], { features: ["flag"], ...NO_TTL });
      const reads = [
        { view: "a", entityKeys: [key(2), key(404), key(1)], features: ["s", "nope", "n"] },
        { view: "b:c", entityKeys: [key(1), key(2)], features: ["flag"] },
        { view: "never_written", entityKeys: [key(1)], features: ["n"] },
        { view: "a", entityKeys: [], features: ["n"] },
        { view: "a", entityKeys: [key(1)], features: [] },
      ];
      const one = await Promise.all(reads.map((r) => store.read(p, r.view, r.entityKeys, r.features)));
      const all = await readViews(store, p, reads);
      assert.deepEqual(all, one);
      assert.deepEqual(
        all[0]!.map((v) => v?.values ?? null),
        [["y", undefined, 2], null, ["x", undefined, 1]],
      );
      assert.deepEqual(
        all[1]!.map((v) => v?.values ?? null),
        [[true], null],
      );
      assert.deepEqual(all[2], [null]);
      assert.deepEqual(all[3], []);
      assert.deepEqual(await readViews(store, p, []), []);
      // Many keys over several views (more than one MGET chunk in total).
      const many = Array.from({ length: 700 }, (_, i) => ({ entityKey: key(i), eventTs: 1, values: [i] }));
      await store.write(p, "m1", many, { features: ["i"], ...NO_TTL });
      await store.write(p, "m2", many, { features: ["i"], ...NO_TTL });
      const big = await readViews(store, p, [
        { view: "m1", entityKeys: many.map((r) => r.entityKey), features: ["i"] },
        { view: "m2", entityKeys: many.map((r) => r.entityKey).reverse(), features: ["i"] },
      ]);
      assert.deepEqual(
        big[0]!.map((v) => v?.values[0]),
        many.map((_, i) => i),
      );
      assert.deepEqual(
        big[1]!.map((v) => v?.values[0]),
        many.map((_, i) => 699 - i),
      );
    });

    test("rows written under an earlier feature list stay readable by name", async () => {
      const p = newProject();
      await store.write(p, "v", [{ entityKey: key(1), eventTs: 10, values: ["x", 1] }], { features: ["a", "b"], ...NO_TTL });
      await store.write(p, "v", [{ entityKey: key(2), eventTs: 10, values: [2, "y", true] }], { features: ["b", "a", "c"], ...NO_TTL });
      const got = await store.read(p, "v", [key(1), key(2)], ["a", "b", "c"]);
      assert.deepEqual(
        got.map((g) => g?.values),
        [
          ["x", 1, undefined],
          ["y", 2, true],
        ],
      );
    });

    test("writes are monotonic: older ignored and counted stale, equal replaces, newer replaces", async () => {
      const p = newProject();
      const features = ["f"];
      const w = (rows: OnlineRow[]) => store.write(p, "v", rows, { features, ...NO_TTL });
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 100, values: ["t100"] },
            { entityKey: key(2), eventTs: 100, values: ["t100"] },
          ]),
        ),
        { written: 2, stale: 0 },
      );
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 99, values: ["t99"] },
            { entityKey: key(2), eventTs: 100, values: ["t100 again"] },
          ]),
        ),
        { written: 1, stale: 1 },
      );
      let got = await store.read(p, "v", [key(1), key(2)], features);
      assert.deepEqual(
        got.map((g) => [g?.eventTs, g?.values[0]]),
        [
          [100, "t100"],
          [100, "t100 again"],
        ],
      );
      assert.deepEqual(pick(await w([{ entityKey: key(1), eventTs: 101, values: ["t101"] }])), { written: 1, stale: 0 });
      // Within one batch, rows apply in order: the later older row is stale.
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(3), eventTs: 5, values: ["t5"] },
            { entityKey: key(3), eventTs: 4, values: ["t4"] },
          ]),
        ),
        { written: 1, stale: 1 },
      );
      got = await store.read(p, "v", [key(1), key(3)], features);
      assert.deepEqual(
        got.map((g) => [g?.eventTs, g?.values[0]]),
        [
          [101, "t101"],
          [5, "t5"],
        ],
      );
    });

    test("equal event timestamps: the greatest created timestamp wins (none is the least); rows of both packed forms compare", async () => {
      const p = newProject();
      const features = ["f"];
      const w = (rows: OnlineRow[]) => store.write(p, "v", rows, { features, ...NO_TTL });
      const read = async (...ids: number[]) =>
        (
          await store.read(
            p,
            "v",
            ids.map((i) => key(i)),
            features,
          )
        ).map((g) => g?.values[0]);
      // Key 1 starts without a created timestamp (the older packed form), key 2 with one.
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 100, values: ["none"] },
            { entityKey: key(2), eventTs: 100, createdTs: 50, values: ["c50"] },
          ]),
        ),
        { written: 2, stale: 0 },
      );
      // Same event time: a created timestamp beats none; an older created one is stale; none loses to one.
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 100, createdTs: 10, values: ["c10"] },
            { entityKey: key(2), eventTs: 100, createdTs: 40, values: ["c40"] },
          ]),
        ),
        { written: 1, stale: 1 },
      );
      assert.deepEqual(await read(1, 2), ["c10", "c50"]);
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 100, values: ["none again"] },
            { entityKey: key(2), eventTs: 100, createdTs: null, values: ["null"] },
          ]),
        ),
        { written: 0, stale: 2 },
      );
      // Equal pairs replace (idempotent reruns); a greater created or a newer event time replaces.
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 100, createdTs: 10, values: ["c10 again"] },
            { entityKey: key(2), eventTs: 100, createdTs: 60, values: ["c60"] },
          ]),
        ),
        { written: 2, stale: 0 },
      );
      assert.deepEqual(await read(1, 2), ["c10 again", "c60"]);
      // A newer event time wins whatever the created timestamps; an older one loses whatever they are.
      assert.deepEqual(
        pick(
          await w([
            { entityKey: key(1), eventTs: 101, values: ["t101"] },
            { entityKey: key(2), eventTs: 99, createdTs: 1e12, values: ["t99"] },
          ]),
        ),
        { written: 1, stale: 1 },
      );
      const got = await store.read(p, "v", [key(1), key(2)], features);
      assert.deepEqual(
        got.map((g) => [g?.eventTs, g?.values[0]]),
        [
          [101, "t101"],
          [100, "c60"],
        ],
      );
    });

    test("concurrent writers through two stores: the greatest event timestamp wins for every key", async () => {
      const p = newProject();
      const other = await open();
      try {
        const features = ["ts"];
        const keys = Array.from({ length: 50 }, (_, i) => key(i));
        const calls: Promise<unknown>[] = [];
        // Store A writes odd timestamps 1..39, store B even ones 2..40, in shuffled order, all at once.
        const order = Array.from({ length: 40 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
        for (const ts of order) {
          const s = ts % 2 === 1 ? store : other;
          calls.push(
            s.write(
              p,
              "v",
              keys.map((k) => ({ entityKey: k, eventTs: ts, values: [ts] })),
              { features, ...NO_TTL },
            ),
          );
        }
        const results = (await Promise.all(calls)) as { written: number; stale: number }[];
        assert.equal(
          results.reduce((n, r) => n + r.written + r.stale, 0),
          40 * keys.length,
        );
        const got = await other.read(p, "v", keys, features);
        for (const g of got) assert.deepEqual([g?.eventTs, g?.values[0]], [40, 40]);
      } finally {
        await other.close();
      }
    });

    test("TTL: a row already past eventTs + ttl is not stored; one expiring soon disappears at its expiry, not before", async () => {
      const p = newProject();
      const features = ["f"];
      const keys = [key("old"), key("soon"), key("later")];
      const readAll = async () => (await store.read(p, "v", keys, features)).map((g) => g?.values[0] ?? null);
      const now = Date.now();
      const ttlMs = 1_000;
      const soonExpiresAt = now + ttlMs;
      const res = await store.write(
        p,
        "v",
        [
          { entityKey: key("old"), eventTs: now - 10_000, values: ["old"] },
          { entityKey: key("soon"), eventTs: now, values: ["soon"] },
          { entityKey: key("later"), eventTs: now, values: ["later"] },
        ],
        { features, ttlMs },
      );
      // The stores in this tree always count expired rows (OnlineWriteResult.expired).
      assert.deepEqual(res, { written: 2, stale: 0, expired: 1 });
      await store.write(p, "v", [{ entityKey: key("later"), eventTs: now, values: ["later"] }], { features, ttlMs: 60_000 });
      // The read API takes no clock, so the expiry is observed by polling: until it, "soon" reads as
      // stored; from it, as missing. Each read is judged by the clock around it, so a slow machine
      // cannot make the test fail, only take longer.
      const deadline = soonExpiresAt + 15_000;
      for (;;) {
        const startedAt = Date.now();
        const got = await readAll();
        const endedAt = Date.now();
        assert.equal(got[0], null, "a row stored past its TTL never appears");
        assert.equal(got[2], "later", "a row with a longer TTL stays");
        if (got[1] === "soon") {
          assert.ok(startedAt <= soonExpiresAt, `"soon" was still read ${startedAt - soonExpiresAt} ms after its expiry`);
        } else {
          assert.equal(got[1], null);
          assert.ok(endedAt >= soonExpiresAt, `"soon" disappeared ${soonExpiresAt - endedAt} ms before its expiry`);
          break;
        }
        if (Date.now() > deadline) assert.fail(`"soon" (expiring at ${new Date(soonExpiresAt).toISOString()}) was still readable 15 s after its expiry`);
        await sleep(50);
      }
      // An expired row does not block a newer one.
      await store.write(p, "v", [{ entityKey: key("soon"), eventTs: Date.now(), values: ["again"] }], { features, ttlMs: 60_000 });
      const got = await store.read(p, "v", [key("soon")], features);
      assert.equal(got[0]?.values[0], "again");
    });

    test("deleteView removes every row of the view and nothing else; the view can be written again", async () => {
      const p = newProject();
      const features = ["f"];
      const rows = Array.from({ length: 300 }, (_, i) => ({ entityKey: key(i), eventTs: 10, values: [i] }));
      await store.write(p, "gone", rows, { features, ...NO_TTL });
      await store.write(p, "kept", rows, { features, ...NO_TTL });
      await store.write(p, "gone_too_long_name", rows.slice(0, 3), { features, ...NO_TTL });
      await store.deleteView(p, "gone");
      assert.deepEqual(
        await store.read(
          p,
          "gone",
          rows.map((r) => r.entityKey),
          features,
        ),
        rows.map(() => null),
      );
      assert.equal(
        (
          await store.read(
            p,
            "kept",
            rows.map((r) => r.entityKey),
            features,
          )
        ).filter((g) => g !== null).length,
        300,
      );
      assert.equal((await store.read(p, "gone_too_long_name", [key(0)], features))[0]?.values[0], 0);
      await store.deleteView(p, "gone"); // deleting an empty view is fine
      await store.write(p, "gone", [{ entityKey: key(1), eventTs: 1, values: ["back"] }], { features: ["g"], ...NO_TTL });
      assert.deepEqual((await store.read(p, "gone", [key(1)], ["g"]))[0]?.values, ["back"]);
    });

    test("views and projects are isolated, also when names contain the key separator", async () => {
      const a = newProject();
      const b = newProject();
      const features = ["f"];
      const w = (proj: string, view: string, value: string) => store.write(proj, view, [{ entityKey: key(1), eventTs: 1, values: [value] }], { features, ...NO_TTL });
      await w(a, "v", "a/v");
      await w(a, "v2", "a/v2");
      await w(b, "v", "b/v");
      await w(`${a}:x`, "y", "a:x/y");
      await w(a, "x:y", "a/x:y");
      const r = async (proj: string, view: string) => (await store.read(proj, view, [key(1)], features))[0]?.values[0] ?? null;
      assert.deepEqual([await r(a, "v"), await r(a, "v2"), await r(b, "v"), await r(`${a}:x`, "y"), await r(a, "x:y")], ["a/v", "a/v2", "b/v", "a:x/y", "a/x:y"]);
      await store.deleteView(a, "x:y");
      assert.deepEqual([await r(`${a}:x`, "y"), await r(a, "x:y"), await r(a, "v")], ["a:x/y", null, "a/v"]);
    });

    test("large batches: 10k entities × 8 features written and read back in one call each", async () => {
      const p = newProject();
      const features = Array.from({ length: 8 }, (_, i) => `f${i}`);
      const rows = Array.from({ length: 10_000 }, (_, i) => ({ entityKey: key(i, `k${i % 7}`), eventTs: 1_700_000_000_000 + i, values: [i, i / 3, `s${i}`, i % 2 === 0, null, -i - 1, i * 1e6, "x"] }));
      const res = await store.write(p, "big", rows, { features, ...NO_TTL });
      assert.deepEqual(pick(res), { written: 10_000, stale: 0 });
      const got = await store.read(
        p,
        "big",
        rows.map((r) => r.entityKey),
        features,
      );
      assert.equal(got.length, 10_000);
      for (let i = 0; i < rows.length; i++) {
        const g = got[i];
        assert.ok(g, `row ${i}`);
        assert.equal(g.eventTs, rows[i]?.eventTs);
        assert.deepEqual(g.values, rows[i]?.values);
      }
    });

    test("update: modify sees null, then what it stored; its row is read like any other; null leaves the entity as it was", async () => {
      const p = newProject();
      const features = ["n", "s"];
      const seen: unknown[] = [];
      let res = await store.update(
        p,
        "agg",
        [key(1), key(2), key(1)],
        (k, cur) => {
          seen.push([k, cur]);
          return { eventTs: 100, values: [1, `first ${k}`], asOf: 150, state: JSON.stringify({ k, line: "a\\nb" }), stateExpiresAt: null };
        },
        { features, ...NO_TTL },
      );
      assert.deepEqual(res, { written: 2, unchanged: 0, expired: 0, retries: 0 });
      assert.deepEqual(
        seen,
        [
          [key(1), null],
          [key(2), null],
        ],
        "each distinct entity once",
      );
      const got = await store.read(p, "agg", [key(1), key(2), key(3)], features);
      assert.deepEqual(
        got.map((g) => g && [g.eventTs, ...g.values]),
        [[100, 1, "first 1"], [100, 1, "first 2"], null],
      );
      const seenAgain: unknown[] = [];
      res = await store.update(
        p,
        "agg",
        [key(1), key(2)],
        (k, cur) => {
          seenAgain.push([k, cur]);
          return k === key(2) ? null : { eventTs: 90, values: [2, null], asOf: 200, state: "", stateExpiresAt: null };
        },
        { features, ...NO_TTL },
      );
      assert.equal(res.written, 1);
      assert.equal(res.unchanged, 1);
      assert.deepEqual(seenAgain, [
        [key(1), { asOf: 150, eventTs: 100, state: JSON.stringify({ k: key(1), line: "a\\nb" }) }],
        [key(2), { asOf: 150, eventTs: 100, state: JSON.stringify({ k: key(2), line: "a\\nb" }) }],
      ]);
      // update replaces whatever modify returns (its own compare decides), also an older event timestamp.
      assert.deepEqual((await store.read(p, "agg", [key(1)], features))[0]?.values, [2, null]);
      assert.deepEqual(await store.update(p, "agg", [], () => null, { features, ...NO_TTL }), { written: 0, unchanged: 0, expired: 0, retries: 0 });
    });

    test("update under concurrent updaters through two stores: no change is lost", async () => {
      const p = newProject();
      const other = await open();
      try {
        const features = ["count"];
        const keys = Array.from({ length: 20 }, (_, i) => key(i));
        const increment = (_k: string, cur: { state: string } | null) => {
          const n = cur === null ? 1 : Number(cur.state) + 1;
          return { eventTs: n, values: [n], asOf: n, state: String(n), stateExpiresAt: null };
        };
        // 30 updaters of all 20 entities at once, alternating between the two stores.
        const calls = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? store : other).update(p, "counter", keys, increment, { features, ...NO_TTL }));
        const results = await Promise.all(calls);
        assert.equal(
          results.reduce((n, r) => n + r.written, 0),
          30 * keys.length,
        );
        const got = await store.read(p, "counter", keys, features);
        for (const g of got) assert.deepEqual([g?.eventTs, g?.values[0]], [30, 30]);
      } finally {
        await other.close();
      }
    });

    test("update: a row already past its TTL is not stored (counted expired) but its state is; deleteView removes states", async () => {
      const p = newProject();
      const features = ["f"];
      const now = Date.now();
      const res = await store.update(
        p,
        "v",
        [key("old"), key("new")],
        (k) => ({
          eventTs: k === key("old") ? now - 120_000 : now,
          values: [k],
          asOf: now,
          state: `s${k}`,
          stateExpiresAt: null,
        }),
        { features, ttlMs: 60_000 },
      );
      assert.deepEqual(res, { written: 2, unchanged: 0, expired: 1, retries: 0 });
      assert.deepEqual(
        (await store.read(p, "v", [key("old"), key("new")], features)).map((g) => g?.values[0] ?? null),
        [null, key("new")],
      );
      const states: unknown[] = [];
      await store.update(
        p,
        "v",
        [key("old")],
        (_k, cur) => {
          states.push(cur?.state);
          return null;
        },
        { features, ttlMs: 60_000 },
      );
      assert.deepEqual(states, [`s${key("old")}`]);
      // A state past its own expiry reads as absent.
      await store.update(p, "v", [key("gone")], () => ({ eventTs: now, values: [1], asOf: now, state: "x", stateExpiresAt: now - 1 }), { features, ttlMs: null });
      await store.deleteView(p, "v");
      const after: unknown[] = [];
      await store.update(
        p,
        "v",
        [key("old"), key("new"), key("gone")],
        (_k, cur) => {
          after.push(cur);
          return null;
        },
        { features, ttlMs: null },
      );
      assert.deepEqual(after, [null, null, null]);
    });

    test("materialization markers: none until written, the last write wins, per project and view, not an entity row; deleteView removes it", async () => {
      const p = newProject();
      const q = newProject();
      assert.equal(await store.readMarker(p, "v"), null);
      const first = { runId: "run-1", watermark: 1_700_000_000_000, writtenAt: 1_700_000_000_500 };
      const second = { runId: "run-2", watermark: 1_700_003_600_000, writtenAt: 1_700_003_600_500 };
      await store.writeMarker(p, "v", first);
      assert.deepEqual(await store.readMarker(p, "v"), first);
      await store.writeMarker(p, "v", second);
      assert.deepEqual(await store.readMarker(p, "v"), second);
      await store.writeMarker(p, "a:b", first);
      assert.equal(await store.readMarker(q, "v"), null, "another project");
      assert.equal(await store.readMarker(p, "a"), null, "another view (names with the separator)");
      assert.deepEqual(await store.readMarker(p, "a:b"), first);
      // Rows and the marker do not see each other.
      await store.write(p, "v", [{ entityKey: key(1), eventTs: 5, values: [1] }], { features: ["f"], ...NO_TTL });
      assert.deepEqual(
        (await store.read(p, "v", [key(1), key("!marker")], ["f"])).map((r) => r?.values ?? null),
        [[1], null],
      );
      await store.deleteView(p, "v");
      assert.equal(await store.readMarker(p, "v"), null);
      assert.deepEqual(await store.readMarker(p, "a:b"), first, "deleteView removes only its own view's marker");
    });

    test("a row with the wrong number of values or a non-integer timestamp is INVALID_ARGUMENT and nothing is written", async () => {
      const p = newProject();
      await assert.rejects(
        store.write(
          p,
          "v",
          [
            { entityKey: key(1), eventTs: 1, values: [1] },
            { entityKey: key(2), eventTs: 1, values: [1, 2] },
          ],
          { features: ["a"], ...NO_TTL },
        ),
        { code: "INVALID_ARGUMENT" },
      );
      await assert.rejects(store.write(p, "v", [{ entityKey: key(1), eventTs: 1.5, values: [1] }], { features: ["a"], ...NO_TTL }), { code: "INVALID_ARGUMENT" });
      assert.deepEqual(await store.read(p, "v", [key(1), key(2)], ["a"]), [null, null]);
      assert.deepEqual(await store.write(p, "v", [], { features: ["a"], ...NO_TTL }).then(pick), { written: 0, stale: 0 });
    });
  });
}

function pick(r: { written: number; stale: number }): { written: number; stale: number } {
  return { written: r.written, stale: r.stale };
}
