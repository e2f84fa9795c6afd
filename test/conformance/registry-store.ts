/**
 * The RegistryStore conformance suite: every implementation runs it (see registry-postgres.test.ts,
 * registry-pglite.test.ts). `open` may be called more than once but never while an earlier store
 * is still open (the embedded registry admits one open store at a time); every test works in a
 * project of its own, so one store serves the whole suite.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import type { ErrorCode } from "../../src/errors.js";
import { DEFAULT_RUN_LEASE_MS, type AppliedDefinition, type DefinitionKind, type DefinitionRecord, type PlanDiff, type RegistryStore, type RunRecord } from "../../src/registry/registry-store.js";

export function runRegistryConformance(name: string, open: () => Promise<RegistryStore>): void {
  describe(`RegistryStore conformance: ${name}`, () => {
    let store: RegistryStore;
    const runId = randomBytes(4).toString("hex");
    let counter = 0;
    const newProject = (): string => `conf_${runId}_${++counter}`;

    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    describe("plan and apply", () => {
      test("plan on an empty project adds everything and writes nothing", async () => {
        const p = newProject();
        const defs = [def("feature_view", "spend", "v1"), def("entity", "customer", "e1")];
        const diff = await store.plan(p, defs);
        assert.deepEqual(keys(diff.add), ["entity:customer", "feature_view:spend"]);
        assert.deepEqual([diff.change, diff.remove, diff.unchanged], [[], [], []]);
        assert.deepEqual(await store.listDefinitions(p), []);
      });

      test("apply adds at version 1 and returns the applied records", async () => {
        const p = newProject();
        const defs = [def("feature_service", "churn", "s1"), def("feature_view", "spend", "v1"), def("entity", "customer", "e1"), def("source", "txns", "src1")];
        const diff = await store.apply(p, defs);
        assert.deepEqual(keys(diff.add), ["entity:customer", "source:txns", "feature_view:spend", "feature_service:churn"]);
        const added = diff.add as AppliedDefinition[];
        for (const d of added) {
          assert.equal(d.version, 1);
          assert.ok(d.appliedAt instanceof Date);
        }
        assert.equal(new Set(added.map((d) => d.appliedAt.getTime())).size, 1, "one apply, one appliedAt");
        const listed = await store.listDefinitions(p);
        assert.deepEqual(keys(listed), ["entity:customer", "source:txns", "feature_view:spend", "feature_service:churn"]);
        const view = await store.getDefinition(p, "feature_view", "spend");
        assert.ok(view);
        assert.equal(view.version, 1);
        assert.equal(view.hash, "v1");
        assert.deepEqual(view.spec, specFor("feature_view", "spend", "v1"));
        assert.equal(view.deletedAt, undefined);
      });

      test("specs round-trip as JSON: nested objects, arrays, strings, numbers, null", async () => {
        const p = newProject();
        const spec = { z: 1, a: [1, 2.5, "x", null, { deep: [true, false] }], unicode: "é ✓ 😀 \\u0000 is text here", quote: "\"'", n: -3, empty: {} };
        await store.apply(p, [
          { kind: "entity", name: "e", spec, hash: "h" },
          { kind: "source", name: "arr", spec: [1, [2]], hash: "h" },
          { kind: "source", name: "str", spec: "plain", hash: "h" },
        ]);
        assert.deepEqual((await store.getDefinition(p, "entity", "e"))?.spec, spec);
        assert.deepEqual((await store.getDefinition(p, "source", "arr"))?.spec, [1, [2]]);
        assert.equal((await store.getDefinition(p, "source", "str"))?.spec, "plain");
      });

      test("listDefinitions is ordered by kind then name and filters by kind", async () => {
        const p = newProject();
        await store.apply(p, [def("feature_view", "b", "1"), def("feature_view", "a", "1"), def("on_demand_feature_view", "r", "1"), def("entity", "z", "1"), def("entity", "B", "1")]);
        assert.deepEqual(keys(await store.listDefinitions(p)), ["entity:B", "entity:z", "feature_view:a", "feature_view:b", "on_demand_feature_view:r"]);
        assert.deepEqual(keys(await store.listDefinitions(p, "feature_view")), ["feature_view:a", "feature_view:b"]);
        assert.deepEqual(await store.listDefinitions(p, "feature_service"), []);
      });

      test("re-applying the same definitions changes nothing", async () => {
        const p = newProject();
        const defs = [def("entity", "customer", "e1"), def("feature_view", "spend", "v1")];
        const first = await store.apply(p, defs);
        const again = await store.apply(p, defs);
        assert.deepEqual([again.add, again.change, again.remove], [[], [], []]);
        assert.deepEqual(keys(again.unchanged), ["entity:customer", "feature_view:spend"]);
        assert.deepEqual(
          again.unchanged.map((d) => [d.version, d.appliedAt.getTime()]),
          (first.add as AppliedDefinition[]).map((d) => [1, d.appliedAt.getTime()]),
        );
        assert.equal((await store.definitionHistory(p, "entity", "customer")).length, 1);
      });

      test("a changed hash makes a new version and keeps the history, oldest first", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v1")]);
        const planned = await store.plan(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v2")]);
        assert.deepEqual(
          planned.change.map((c) => [c.before.version, c.before.hash, c.after.hash]),
          [[1, "v1", "v2"]],
        );
        assert.equal((await store.getDefinition(p, "feature_view", "spend"))?.version, 1, "plan writes nothing");

        const applied = await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v2")]);
        assert.deepEqual(keys(applied.unchanged), ["entity:customer"]);
        assert.equal(applied.change.length, 1);
        const change = applied.change[0]!;
        assert.equal(change.before.version, 1);
        assert.equal(change.before.hash, "v1");
        assert.equal((change.after as AppliedDefinition).version, 2);
        assert.equal(change.after.hash, "v2");

        await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v3")]);
        const current = await store.getDefinition(p, "feature_view", "spend");
        assert.equal(current?.version, 3);
        assert.deepEqual(current?.spec, specFor("feature_view", "spend", "v3"));
        const history = await store.definitionHistory(p, "feature_view", "spend");
        assert.deepEqual(
          history.map((h) => [h.version, h.hash]),
          [
            [1, "v1"],
            [2, "v2"],
            [3, "v3"],
          ],
        );
        assert.deepEqual(history[0]?.spec, specFor("feature_view", "spend", "v1"));
        assert.ok(history.every((h) => h.deletedAt === undefined));
        assert.ok(history[0]!.appliedAt.getTime() <= history[2]!.appliedAt.getTime());
        assert.equal((await store.getDefinition(p, "entity", "customer"))?.version, 1, "unchanged objects keep their version");
        assert.equal((await store.listDefinitions(p)).length, 2, "one current version per object");
      });

      test("only the hash decides: a new spec with the same hash is unchanged", async () => {
        const p = newProject();
        await store.apply(p, [{ kind: "entity", name: "e", spec: { a: 1 }, hash: "same" }]);
        const diff = await store.apply(p, [{ kind: "entity", name: "e", spec: { a: 2 }, hash: "same" }]);
        assert.deepEqual(keys(diff.unchanged), ["entity:e"]);
        assert.deepEqual((await store.getDefinition(p, "entity", "e"))?.spec, { a: 1 });
      });

      test("objects absent from apply are removed; their history is kept and marked deleted", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v1"), def("feature_view", "old", "o1")]);
        await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v1"), def("feature_view", "old", "o2")]);
        const planned = await store.plan(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v1")]);
        assert.deepEqual(keys(planned.remove), ["feature_view:old"]);

        const diff = await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v1")]);
        assert.deepEqual(keys(diff.remove), ["feature_view:old"]);
        assert.equal(diff.remove[0]?.version, 2);
        assert.deepEqual(keys(diff.unchanged), ["entity:customer", "feature_view:spend"]);
        assert.equal(await store.getDefinition(p, "feature_view", "old"), undefined);
        assert.deepEqual(keys(await store.listDefinitions(p)), ["entity:customer", "feature_view:spend"]);
        const history = await store.definitionHistory(p, "feature_view", "old");
        assert.deepEqual(
          history.map((h) => [h.version, h.hash, h.deletedAt instanceof Date]),
          [
            [1, "o1", false],
            [2, "o2", true],
          ],
        );

        const again = await store.apply(p, [def("entity", "customer", "e1"), def("feature_view", "spend", "v1")]);
        assert.deepEqual(again.remove, [], "a removed object is not removed twice");
      });

      test("a removed object can be added again; its versions continue", async () => {
        const p = newProject();
        await store.apply(p, [def("feature_view", "spend", "v1")]);
        await store.apply(p, [def("feature_view", "spend", "v2")]);
        await store.apply(p, []);
        assert.equal(await store.getDefinition(p, "feature_view", "spend"), undefined);
        const plan = await store.plan(p, [def("feature_view", "spend", "v2")]);
        assert.deepEqual(keys(plan.add), ["feature_view:spend"], "re-adding a removed object is an add, even with the old hash");
        const diff = await store.apply(p, [def("feature_view", "spend", "v2")]);
        assert.deepEqual(keys(diff.add), ["feature_view:spend"]);
        assert.equal((diff.add[0] as AppliedDefinition).version, 3);
        const current = await store.getDefinition(p, "feature_view", "spend");
        assert.equal(current?.version, 3);
        assert.equal(current?.deletedAt, undefined);
        const history = await store.definitionHistory(p, "feature_view", "spend");
        assert.deepEqual(
          history.map((h) => [h.version, h.hash, h.deletedAt !== undefined]),
          [
            [1, "v1", false],
            [2, "v2", true],
            [3, "v2", false],
          ],
        );
      });

      test("apply with no definitions removes everything", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "a", "1"), def("source", "b", "1")]);
        const diff = await store.apply(p, []);
        assert.deepEqual(keys(diff.remove), ["entity:a", "source:b"]);
        assert.deepEqual(await store.listDefinitions(p), []);
      });

      test("the same name under different kinds is two objects", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "customer", "1"), def("feature_view", "customer", "1")]);
        assert.deepEqual(keys(await store.listDefinitions(p)), ["entity:customer", "feature_view:customer"]);
      });

      test("projects are independent", async () => {
        const p1 = newProject();
        const p2 = newProject();
        await store.apply(p1, [def("entity", "customer", "1")]);
        await store.apply(p2, [def("entity", "customer", "2"), def("entity", "store", "1")]);
        await store.apply(p2, [def("entity", "customer", "3")]);
        assert.equal((await store.getDefinition(p1, "entity", "customer"))?.hash, "1");
        assert.equal((await store.getDefinition(p1, "entity", "customer"))?.version, 1);
        assert.equal((await store.getDefinition(p2, "entity", "customer"))?.version, 2);
        assert.deepEqual(keys(await store.listDefinitions(p1)), ["entity:customer"]);
      });

      test("invalid records are rejected with INVALID_DEFINITION and nothing is written", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "keep", "1")]);
        await rejectsWith(store.apply(p, [def("entity", "dup", "1"), def("entity", "dup", "2")]), "INVALID_DEFINITION", /dup/);
        await rejectsWith(store.plan(p, [def("entity", "dup", "1"), def("entity", "dup", "2")]), "INVALID_DEFINITION");
        await rejectsWith(store.apply(p, [{ kind: "model" as DefinitionKind, name: "m", spec: {}, hash: "1" }]), "INVALID_DEFINITION", /kind/);
        await rejectsWith(store.apply(p, [{ kind: "entity", name: "", spec: {}, hash: "1" }]), "INVALID_DEFINITION", /name/);
        await rejectsWith(store.apply(p, [{ kind: "entity", name: "e", spec: {}, hash: "" }]), "INVALID_DEFINITION", /hash/);
        await rejectsWith(store.apply(p, [{ kind: "entity", name: "e", spec: { n: 1n }, hash: "1" }]), "INVALID_DEFINITION", /JSON/);
        await rejectsWith(store.apply(p, [{ kind: "entity", name: "e", spec: { s: "a\u0000b" }, hash: "1" }]), "INVALID_DEFINITION", /NUL/);
        assert.deepEqual(keys(await store.listDefinitions(p)), ["entity:keep"]);
      });

      test("getDefinition and definitionHistory of an unknown object", async () => {
        const p = newProject();
        assert.equal(await store.getDefinition(p, "entity", "nope"), undefined);
        assert.deepEqual(await store.definitionHistory(p, "entity", "nope"), []);
      });

      test("concurrent applies on one store are serialised: versions stay consistent", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "x", "h0")]);
        const results = await Promise.all(["a", "b", "c", "d"].map((h) => store.apply(p, [def("entity", "x", h), def("source", "shared", "s1")])));
        const history = await store.definitionHistory(p, "entity", "x");
        assert.deepEqual(
          history.map((h) => h.version),
          [1, 2, 3, 4, 5],
        );
        assert.equal((await store.getDefinition(p, "entity", "x"))?.version, 5);
        assert.equal(results.filter((r) => r.add.length === 1).length, 1, "exactly one apply added the shared source");
        assert.deepEqual(
          (await store.definitionHistory(p, "source", "shared")).map((h) => h.version),
          [1],
        );
        const befores = results.map((r) => r.change[0]?.before.version).sort();
        assert.deepEqual(befores, [1, 2, 3, 4], "each apply saw the one before it");
      });
    });

    describe("runs", () => {
      test("a run starts running and finishes succeeded with its row count", async () => {
        const p = newProject();
        const rangeStart = new Date("2024-01-01T00:00:00.000Z");
        const rangeEnd = new Date("2024-01-02T00:00:00.123Z");
        const before = Date.now();
        const id = await store.startRun(p, { kind: "backfill", view: "spend", rangeStart, rangeEnd });
        assert.equal(typeof id, "string");
        const [running] = await store.listRuns(p);
        assert.ok(running);
        assert.deepEqual(
          { ...running, startedAt: undefined, heartbeatAt: undefined, leaseUntil: undefined },
          { id, project: p, kind: "backfill", view: "spend", rangeStart, rangeEnd, status: "running", rows: null, error: null, startedAt: undefined, finishedAt: null, heartbeatAt: undefined, leaseUntil: undefined },
        );
        assert.ok(Math.abs(running.startedAt.getTime() - before) < 60_000, "startedAt is about now");
        assert.ok(running.heartbeatAt instanceof Date && running.heartbeatAt.getTime() >= running.startedAt.getTime(), "the start is the first heartbeat");
        assert.equal(running.leaseUntil?.getTime(), running.heartbeatAt.getTime() + DEFAULT_RUN_LEASE_MS, "the default lease runs from the first heartbeat");

        await store.finishRun(id, { status: "succeeded", rows: 1234 });
        const [done] = await store.listRuns(p);
        assert.equal(done?.status, "succeeded");
        assert.equal(done?.rows, 1234);
        assert.equal(done?.error, null);
        assert.ok(done?.finishedAt instanceof Date);
        assert.ok(done.finishedAt.getTime() >= done.startedAt.getTime());
      });

      test("a failed run keeps its error; a run without a range has null bounds", async () => {
        const p = newProject();
        const id = await store.startRun(p, { kind: "materialize", view: "spend" });
        await store.finishRun(id, { status: "failed", error: "source missing" });
        const [run] = await store.listRuns(p);
        assert.equal(run?.status, "failed");
        assert.equal(run?.error, "source missing");
        assert.equal(run?.rows, null);
        assert.equal(run?.rangeStart, null);
        assert.equal(run?.rangeEnd, null);
      });

      test("finishing an unknown run is UNKNOWN_RUN; finishing twice is INVALID_ARGUMENT", async () => {
        const p = newProject();
        await rejectsWith(store.finishRun("no-such-run", { status: "succeeded" }), "UNKNOWN_RUN");
        const id = await store.startRun(p, { kind: "backfill", view: "v" });
        await store.finishRun(id, { status: "succeeded", rows: 0 });
        await rejectsWith(store.finishRun(id, { status: "failed", error: "late" }), "INVALID_ARGUMENT", /already finished/);
        const [run] = await store.listRuns(p);
        assert.equal(run?.status, "succeeded");
        assert.equal(run?.rows, 0);
      });

      test("listRuns is newest first, filters by view and kind, and limits", async () => {
        const p = newProject();
        const ids: string[] = [];
        const plan: [string, string][] = [
          ["backfill", "a"],
          ["materialize", "a"],
          ["backfill", "b"],
          ["materialize", "b"],
          ["backfill", "a"],
        ];
        for (const [kind, view] of plan) ids.push(await store.startRun(p, { kind, view }));
        const all = await store.listRuns(p);
        assert.deepEqual(
          all.map((r) => r.id),
          [...ids].reverse(),
        );
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.startedAt.getTime() >= all[i]!.startedAt.getTime());
        assert.deepEqual(
          (await store.listRuns(p, { view: "a" })).map((r) => r.id),
          [ids[4], ids[1], ids[0]],
        );
        assert.deepEqual(
          (await store.listRuns(p, { kind: "materialize" })).map((r) => r.id),
          [ids[3], ids[1]],
        );
        assert.deepEqual(
          (await store.listRuns(p, { view: "a", kind: "backfill" })).map((r) => r.id),
          [ids[4], ids[0]],
        );
        assert.deepEqual(
          (await store.listRuns(p, { limit: 2 })).map((r) => r.id),
          [ids[4], ids[3]],
        );
        assert.deepEqual(await store.listRuns(p, { view: "none" }), []);
        assert.deepEqual(await store.listRuns(newProject()), [], "runs belong to their project");
      });

      test("finishing a run does not reorder the list", async () => {
        const p = newProject();
        const first = await store.startRun(p, { kind: "backfill", view: "v" });
        const second = await store.startRun(p, { kind: "backfill", view: "v" });
        await store.finishRun(first, { status: "succeeded", rows: 1 });
        assert.deepEqual(
          (await store.listRuns(p)).map((r) => r.id),
          [second, first],
        );
      });
    });

    describe("run leases", () => {
      /** Polls listRuns until the run has `status` (deadline 20 s): expiry is the registry clock's call. */
      const untilStatus = async (p: string, id: string, status: string): Promise<RunRecord> => {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const run = (await store.listRuns(p)).find((r) => r.id === id);
          if (run?.status === status) return run;
          if (Date.now() > deadline) assert.fail(`run ${id} is ${run?.status}, expected ${status}`);
          await sleep(20);
        }
      };

      test("a run whose lease expires without renewal reads abandoned; a renewed one stays running", async () => {
        const p = newProject();
        const dead = await store.startRun(p, { kind: "backfill", view: "v", leaseMs: 300 });
        const alive = await store.startRun(p, { kind: "backfill", view: "v", leaseMs: 60_000 });
        const abandoned = await untilStatus(p, dead, "abandoned");
        assert.equal(abandoned.finishedAt, null, "derived at read time: nothing is stored yet");
        assert.equal(abandoned.leaseUntil?.getTime(), abandoned.heartbeatAt!.getTime() + 300);
        assert.equal((await store.listRuns(p)).find((r) => r.id === alive)?.status, "running");
      });

      test("renewRun moves the heartbeat and the lease; it answers false once the run finished", async () => {
        const p = newProject();
        const id = await store.startRun(p, { kind: "materialize", view: "v", leaseMs: 1000 });
        const [first] = await store.listRuns(p);
        assert.equal(await store.renewRun(id, 120_000), true);
        const [renewed] = await store.listRuns(p);
        assert.ok(renewed!.heartbeatAt!.getTime() >= first!.heartbeatAt!.getTime());
        assert.equal(renewed!.leaseUntil!.getTime(), renewed!.heartbeatAt!.getTime() + 120_000);
        await store.finishRun(id, { status: "succeeded", rows: 1 });
        assert.equal(await store.renewRun(id, 1000), false);
        assert.equal(await store.renewRun("no-such-run", 1000), false);
        await rejectsWith(store.renewRun(id, 0), "INVALID_ARGUMENT", /lease/);
        await rejectsWith(store.startRun(p, { kind: "backfill", view: "v", leaseMs: -5 }), "INVALID_ARGUMENT", /lease/);
      });

      test("reapAbandonedRuns stores abandoned on the view's expired runs, once; a stalled owner may still finish", async () => {
        const p = newProject();
        const expired = await store.startRun(p, { kind: "backfill", view: "v", leaseMs: 300 });
        const otherView = await store.startRun(p, { kind: "backfill", view: "w", leaseMs: 300 });
        const live = await store.startRun(p, { kind: "materialize", view: "v", leaseMs: 60_000 });
        await untilStatus(p, expired, "abandoned");
        await untilStatus(p, otherView, "abandoned");
        const reaped = await store.reapAbandonedRuns(p, "v");
        assert.deepEqual(
          reaped.map((r) => [r.id, r.status]),
          [[expired, "abandoned"]],
        );
        assert.equal(reaped[0]!.finishedAt?.getTime(), reaped[0]!.leaseUntil?.getTime(), "finished when its lease ended");
        assert.match(reaped[0]!.error ?? "", /stopped renewing the lease/);
        assert.deepEqual(await store.reapAbandonedRuns(p, "v"), [], "each expired run is reaped once");
        assert.equal(await store.renewRun(expired, 1000), false, "a reaped run is no longer running");
        const runs = new Map((await store.listRuns(p)).map((r) => [r.id, r]));
        assert.equal(runs.get(expired)?.status, "abandoned");
        assert.equal(runs.get(live)?.status, "running");
        assert.equal(runs.get(otherView)?.status, "abandoned");
        assert.equal(runs.get(otherView)?.finishedAt, null, "another view's runs are not reaped");
        await store.finishRun(expired, { status: "failed", error: "spill files gone" });
        assert.equal((await store.listRuns(p)).find((r) => r.id === expired)?.status, "failed");
        await rejectsWith(store.finishRun(expired, { status: "succeeded" }), "INVALID_ARGUMENT", /already finished/);
      });
    });

    describe("scheduled runs: claimRun and lastRunEnd", () => {
      const tick = new Date("2024-03-01T01:00:00.000Z");

      test("the first claim of a slot records a running run with its slot; a second claim gets undefined", async () => {
        const p = newProject();
        const rangeStart = new Date("2024-03-01T00:00:00.000Z");
        const id = await store.claimRun(p, { kind: "schedule", view: "spend", slot: tick, rangeStart, rangeEnd: tick });
        assert.equal(typeof id, "string");
        assert.equal(await store.claimRun(p, { kind: "schedule", view: "spend", slot: new Date(tick.getTime()) }), undefined);
        const runs = await store.listRuns(p);
        assert.equal(runs.length, 1);
        assert.deepEqual(
          { ...runs[0], startedAt: undefined, heartbeatAt: undefined, leaseUntil: undefined },
          { id, project: p, kind: "schedule", view: "spend", rangeStart, rangeEnd: tick, status: "running", rows: null, error: null, startedAt: undefined, finishedAt: null, slot: tick, heartbeatAt: undefined, leaseUntil: undefined },
        );
        assert.equal(runs[0]!.leaseUntil!.getTime() - runs[0]!.heartbeatAt!.getTime(), DEFAULT_RUN_LEASE_MS, "a claimed run is leased too");
        await store.finishRun(id!, { status: "failed", error: "boom" });
        assert.equal(await store.claimRun(p, { kind: "schedule", view: "spend", slot: tick }), undefined, "a finished (even failed) run still owns its slot");
      });

      test("slots are per project, kind, view and tick; runs started without a slot never conflict", async () => {
        const p = newProject();
        const claims = await Promise.all([
          store.claimRun(p, { kind: "schedule", view: "a", slot: tick }),
          store.claimRun(p, { kind: "schedule", view: "b", slot: tick }),
          store.claimRun(p, { kind: "other", view: "a", slot: tick }),
          store.claimRun(p, { kind: "schedule", view: "a", slot: new Date(tick.getTime() + 1000) }),
          store.claimRun(newProject(), { kind: "schedule", view: "a", slot: tick }),
        ]);
        assert.ok(
          claims.every((c) => typeof c === "string"),
          "every distinct slot is claimed",
        );
        await store.startRun(p, { kind: "schedule", view: "a" });
        await store.startRun(p, { kind: "schedule", view: "a" });
        const [plain] = await store.listRuns(p, { view: "a", kind: "schedule", limit: 1 });
        assert.equal(plain?.slot, undefined, "a run from startRun has no slot");
      });

      test("concurrent claims of one slot: exactly one wins", async () => {
        const p = newProject();
        const claims = await Promise.all(Array.from({ length: 8 }, () => store.claimRun(p, { kind: "schedule", view: "v", slot: tick })));
        assert.equal(claims.filter((c) => c !== undefined).length, 1);
        assert.equal((await store.listRuns(p)).length, 1);
      });

      test("claimRun checks its arguments", async () => {
        const p = newProject();
        await rejectsWith(store.claimRun(p, { kind: "schedule", view: "v", slot: new Date(Number.NaN) }), "INVALID_ARGUMENT");
        await rejectsWith(store.claimRun(p, { kind: "", view: "v", slot: tick }), "INVALID_ARGUMENT");
      });

      test("lastRunEnd is the greatest range end of the view's succeeded runs of a kind", async () => {
        const p = newProject();
        assert.equal(await store.lastRunEnd(p, "v", "backfill"), undefined);
        const d = (s: string) => new Date(s);
        const finish = async (kind: string, view: string, end: string, status: "succeeded" | "failed" | "running") => {
          const id = await store.startRun(p, { kind, view, rangeStart: d("2024-01-01T00:00:00Z"), rangeEnd: d(end) });
          if (status !== "running") await store.finishRun(id, { status, ...(status === "failed" ? { error: "x" } : {}) });
        };
        await finish("backfill", "v", "2024-02-01T00:00:00Z", "succeeded");
        await finish("backfill", "v", "2024-03-01T00:00:00Z", "succeeded");
        await finish("backfill", "v", "2024-02-15T00:00:00Z", "succeeded"); // an older range, run later
        await finish("backfill", "v", "2024-04-01T00:00:00Z", "failed");
        await finish("backfill", "v", "2024-05-01T00:00:00Z", "running");
        await finish("materialize", "v", "2024-06-01T00:00:00Z", "succeeded");
        await finish("backfill", "w", "2024-07-01T00:00:00Z", "succeeded");
        assert.deepEqual(await store.lastRunEnd(p, "v", "backfill"), d("2024-03-01T00:00:00Z"));
        assert.deepEqual(await store.lastRunEnd(p, "v", "materialize"), d("2024-06-01T00:00:00Z"));
        assert.deepEqual(await store.lastRunEnd(p, "w", "backfill"), d("2024-07-01T00:00:00Z"));
        assert.equal(await store.lastRunEnd(p, "x", "backfill"), undefined);
      });
    });

    describe("watermarks", () => {
      test("unset is undefined; set, overwrite and read back to the millisecond", async () => {
        const p = newProject();
        assert.equal(await store.getWatermark(p, "spend", "materialize"), undefined);
        await store.setWatermark(p, "spend", "materialize", new Date("2024-03-01T10:00:00.123Z"));
        assert.deepEqual(await store.getWatermark(p, "spend", "materialize"), new Date("2024-03-01T10:00:00.123Z"));
        await store.setWatermark(p, "spend", "materialize", new Date("2024-03-02T00:00:00.000Z"));
        assert.deepEqual(await store.getWatermark(p, "spend", "materialize"), new Date("2024-03-02T00:00:00.000Z"));
      });

      test("watermarks are keyed by project, view and kind", async () => {
        const p = newProject();
        const q = newProject();
        await store.setWatermark(p, "spend", "materialize", new Date(1_000));
        await store.setWatermark(p, "spend", "backfill", new Date(2_000));
        await store.setWatermark(p, "profile", "materialize", new Date(3_000));
        await store.setWatermark(q, "spend", "materialize", new Date(4_000));
        assert.deepEqual(await store.getWatermark(p, "spend", "materialize"), new Date(1_000));
        assert.deepEqual(await store.getWatermark(p, "spend", "backfill"), new Date(2_000));
        assert.deepEqual(await store.getWatermark(p, "profile", "materialize"), new Date(3_000));
        assert.deepEqual(await store.getWatermark(q, "spend", "materialize"), new Date(4_000));
        assert.equal(await store.getWatermark(q, "profile", "materialize"), undefined);
      });
    });

    describe("withLock", () => {
      test("serialises two concurrent callers of the same lock and returns fn's value", async () => {
        const p = newProject();
        let active = 0;
        let maxActive = 0;
        const order: string[] = [];
        const critical = async (who: string): Promise<string> => {
          active++;
          maxActive = Math.max(maxActive, active);
          order.push(`${who}:in`);
          await sleep(60);
          order.push(`${who}:out`);
          active--;
          return who;
        };
        const results = await Promise.all([store.withLock(p, "materialize", () => critical("a")), store.withLock(p, "materialize", () => critical("b"))]);
        assert.deepEqual(results, ["a", "b"]);
        assert.equal(maxActive, 1);
        assert.ok(JSON.stringify(order) === JSON.stringify(["a:in", "a:out", "b:in", "b:out"]) || JSON.stringify(order) === JSON.stringify(["b:in", "b:out", "a:in", "a:out"]), `no interleaving: ${order.join(" ")}`);
      });

      test("a caller waiting past timeoutMs gets REGISTRY_LOCKED; other locks and projects are free", async () => {
        const p = newProject();
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let entered!: () => void;
        const isIn = new Promise<void>((r) => (entered = r));
        const holder = store.withLock(p, "materialize", async () => {
          entered();
          await held;
          return "holder";
        });
        await isIn;
        const started = Date.now();
        await rejectsWith(
          store.withLock(p, "materialize", async () => "never", { timeoutMs: 150 }),
          "REGISTRY_LOCKED",
          /materialize/,
        );
        assert.ok(Date.now() - started >= 100, "it waited about timeoutMs");
        assert.equal(await store.withLock(p, "backfill", async () => "other lock", { timeoutMs: 2000 }), "other lock");
        assert.equal(await store.withLock(newProject(), "materialize", async () => "other project", { timeoutMs: 2000 }), "other project");
        release();
        assert.equal(await holder, "holder");
        assert.equal(await store.withLock(p, "materialize", async () => "after", { timeoutMs: 2000 }), "after");
      });

      test("an error thrown by fn propagates unchanged and releases the lock", async () => {
        const p = newProject();
        const boom = new Error("boom");
        await assert.rejects(
          store.withLock(p, "l", async () => Promise.reject(boom)),
          (err) => err === boom,
        );
        assert.equal(await store.withLock(p, "l", async () => 7, { timeoutMs: 2000 }), 7);
      });

      test("fn may use the registry while holding a lock", async () => {
        const p = newProject();
        const diff = await store.withLock(p, "apply", async () => {
          await store.setWatermark(p, "v", "k", new Date(5));
          return store.apply(p, [def("entity", "e", "1")]);
        });
        assert.deepEqual(keys(diff.add), ["entity:e"]);
      });
    });

    describe("models", () => {
      const linear = (w: number) => ({ format: "larder.linear.v1", objective: "logistic", inputs: [{ feature: "x", kind: "numeric", mean: 0, std: 1, fill: 0, weight: w }], intercept: 0, missing: "fill" });
      const newVersion = (name: string, w = 1) => ({ name, format: "logistic", service: "svc", model: linear(w), lineage: { rows: 10, serviceVersion: 2 }, metrics: { auc: 0.75 } });

      test("versions count 1, 2, 3 per model and round-trip model, lineage and metrics", async () => {
        const p = newProject();
        const v1 = await store.registerModelVersion(p, newVersion("churn", 0.5));
        const v2 = await store.registerModelVersion(p, newVersion("churn", 0.25));
        const other = await store.registerModelVersion(p, newVersion("fraud"));
        assert.deepEqual([v1.version, v2.version, other.version], [1, 2, 1]);
        assert.equal(v1.stage, null);
        assert.ok(v1.createdAt instanceof Date);
        const got = await store.getModelVersion(p, "churn", { version: 2 });
        assert.deepEqual(got?.model, linear(0.25));
        assert.deepEqual(got?.lineage, { rows: 10, serviceVersion: 2 });
        assert.deepEqual(got?.metrics, { auc: 0.75 });
        assert.equal(got?.format, "logistic");
        assert.equal(got?.service, "svc");
        assert.equal(await store.getModelVersion(p, "churn", { version: 3 }), undefined);
        assert.equal(await store.getModelVersion(p, "nope", { version: 1 }), undefined);
        const listed = await store.listModelVersions(p);
        assert.deepEqual(
          listed.map((m) => `${m.name}@${m.version}`),
          ["churn@1", "churn@2", "fraud@1"],
        );
        assert.equal("model" in listed[0]!, false, "lists leave the model JSON out");
        assert.deepEqual(
          (await store.listModelVersions(p, { name: "fraud" })).map((m) => m.version),
          [1],
        );
        assert.deepEqual(await store.listModelVersions(newProject()), []);
      });

      test("concurrent registrations get distinct consecutive versions", async () => {
        const p = newProject();
        const got = await Promise.all(Array.from({ length: 8 }, (_, i) => store.registerModelVersion(p, newVersion("m", i))));
        assert.deepEqual(
          got.map((g) => g.version).sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
      });

      test("promote moves a stage atomically: one production version, the previous one loses it", async () => {
        const p = newProject();
        for (let i = 0; i < 3; i++) await store.registerModelVersion(p, newVersion("churn", i));
        assert.equal(await store.getModelVersion(p, "churn", { stage: "production" }), undefined);
        assert.deepEqual(await store.promoteModelVersion(p, "churn", 1, "production"), { previous: null });
        assert.equal((await store.getModelVersion(p, "churn", { stage: "production" }))?.version, 1);
        assert.deepEqual(await store.promoteModelVersion(p, "churn", 2, "staging"), { previous: null });
        assert.deepEqual(await store.promoteModelVersion(p, "churn", 2, "production"), { previous: 1 });
        const stages = (await store.listModelVersions(p, { name: "churn" })).map((m) => [m.version, m.stage]);
        assert.deepEqual(
          stages,
          [
            [1, null],
            [2, "production"],
            [3, null],
          ],
          "v2 left staging for production, v1 lost production",
        );
        const changed = (await store.listModelVersions(p, { name: "churn" }))[1]!.stageChangedAt;
        assert.ok(changed instanceof Date);
        assert.deepEqual(await store.promoteModelVersion(p, "churn", 2, "production"), { previous: 2 }, "promoting the holder again changes nothing");
        assert.deepEqual(await store.promoteModelVersion(p, "churn", 3, "staging"), { previous: null });
        assert.equal((await store.getModelVersion(p, "churn", { stage: "staging" }))?.version, 3);
      });

      test("concurrent promotions leave exactly one production version", async () => {
        const p = newProject();
        for (let i = 0; i < 5; i++) await store.registerModelVersion(p, newVersion("churn", i));
        await Promise.all([1, 2, 3, 4, 5, 3, 1].map((v) => store.promoteModelVersion(p, "churn", v, "production")));
        const prod = (await store.listModelVersions(p, { name: "churn" })).filter((m) => m.stage === "production");
        assert.equal(prod.length, 1);
      });

      test("unknown models and versions are UNKNOWN_MODEL; bad arguments INVALID_ARGUMENT", async () => {
        const p = newProject();
        await store.registerModelVersion(p, newVersion("churn"));
        await rejectsWith(store.promoteModelVersion(p, "nope", 1, "production"), "UNKNOWN_MODEL", /unknown model "nope" \(known: churn\)/);
        await rejectsWith(store.promoteModelVersion(p, "churn", 9, "production"), "UNKNOWN_MODEL", /no version 9/);
        await rejectsWith(store.promoteModelVersion(p, "churn", 1, "archived" as "production"), "INVALID_ARGUMENT", /stage/);
        await rejectsWith(store.promoteModelVersion(p, "churn", 0, "production"), "INVALID_ARGUMENT", /positive integer/);
        await rejectsWith(store.registerModelVersion(p, { ...newVersion("churn"), model: { w: Number.NaN } }), "INVALID_ARGUMENT", /NaN/);
        await rejectsWith(store.registerModelVersion(p, { ...newVersion(""), model: {} }), "INVALID_ARGUMENT", /model name/);
        assert.deepEqual(
          (await store.listModelVersions(p)).map((m) => m.version),
          [1],
          "failed registrations store nothing",
        );
      });
    });

    describe("close", () => {
      test("data survives close and reopen; a closed store refuses calls; close is idempotent", async () => {
        const p = newProject();
        await store.apply(p, [def("entity", "customer", "1")]);
        await store.apply(p, [def("entity", "customer", "2")]);
        const id = await store.startRun(p, { kind: "backfill", view: "v" });
        await store.setWatermark(p, "v", "backfill", new Date(42_000));
        await store.registerModelVersion(p, { name: "m", format: "linear", service: "s", model: { a: 1 }, lineage: {}, metrics: {} });
        await store.promoteModelVersion(p, "m", 1, "production");
        const closing = store;
        await closing.close();
        await closing.close();
        await rejectsWith(closing.listDefinitions(p), "REGISTRY_UNAVAILABLE", /closed/);
        await rejectsWith(
          closing.withLock(p, "l", async () => 1),
          "REGISTRY_UNAVAILABLE",
          /closed/,
        );

        store = await open();
        assert.equal((await store.getDefinition(p, "entity", "customer"))?.version, 2);
        assert.deepEqual(
          (await store.definitionHistory(p, "entity", "customer")).map((h) => h.hash),
          ["1", "2"],
        );
        assert.deepEqual(
          (await store.listRuns(p)).map((r) => r.id),
          [id],
        );
        assert.deepEqual(await store.getWatermark(p, "v", "backfill"), new Date(42_000));
        assert.deepEqual((await store.getModelVersion(p, "m", { stage: "production" }))?.model, { a: 1 });
      });
    });
  });
}

function specFor(kind: DefinitionKind, name: string, hash: string): unknown {
  return { kind, name, revision: hash, columns: [{ name: "c", type: "int64" }], ttl: null };
}

function def(kind: DefinitionKind, name: string, hash: string): DefinitionRecord {
  return { kind, name, hash, spec: specFor(kind, name, hash) };
}

function keys(defs: readonly (DefinitionRecord | PlanDiff["change"][number])[]): string[] {
  return defs.map((d) => ("before" in d ? `${d.before.kind}:${d.before.name}` : `${d.kind}:${d.name}`));
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    const e = err as { name?: string; code?: string; message?: string };
    assert.equal(e.name, "LarderError", `expected a LarderError, got ${String(err)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message ?? "", message);
    return true;
  });
}
