import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { LarderError } from "../src/errors.js";
import { columnFromValues, columnGet, makeBatch, type ColumnarBatch } from "../src/data/columnar.js";
import { isSnapshotGone, OfflineStore, type OfflineColumnSpec } from "../src/offline/offline-store.js";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "larder-offline-store-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const SPECS: OfflineColumnSpec[] = [
  { name: "k", type: "int64", role: "key" },
  { name: "ts", type: "timestamp", role: "event_ts" },
  { name: "created", type: "timestamp", role: "created_ts" },
  { name: "v", type: "float64", role: "feature" },
  { name: "label", type: "string", role: "feature" },
];

/** Rows for keys 0..2 and ts = start, start+10, … < end (sorted by key, ts); v = tag·1000 + ts. */
function chunk(start: number, end: number, tag: number, keys: number[] = [0, 1, 2]): ColumnarBatch {
  const k: number[] = [];
  const ts: number[] = [];
  const v: number[] = [];
  const label: (string | null)[] = [];
  for (const key of keys) {
    for (let t = start; t < end; t += 10) {
      k.push(key);
      ts.push(t);
      v.push(tag * 1000 + t);
      label.push(t % 20 === 0 ? `w${tag}` : null);
    }
  }
  return makeBatch({
    k: columnFromValues("int64", k, "k"),
    ts: columnFromValues("timestamp", ts, "ts"),
    created: columnFromValues(
      "timestamp",
      ts.map((t) => t + 1),
      "created",
    ),
    v: columnFromValues("float64", v, "v"),
    label: columnFromValues("string", label, "label"),
  });
}

function rows(batch: ColumnarBatch | undefined): Record<string, unknown>[] {
  if (!batch) return [];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    const r: Record<string, unknown> = {};
    for (const [name, col] of batch.columns) r[name] = columnGet(col, i);
    out.push(r);
  }
  return out;
}

function sorted(rs: Record<string, unknown>[]): Record<string, unknown>[] {
  return [...rs].sort((a, b) => (a["k"] as number) - (b["k"] as number) || (a["ts"] as number) - (b["ts"] as number));
}

function expected(parts: { start: number; end: number; tag: number }[]): Record<string, unknown>[] {
  return sorted(parts.flatMap((p) => rows(chunk(p.start, p.end, p.tag))));
}

async function write(store: OfflineStore, view: string, start: number, end: number, chunks: ColumnarBatch[], specs = SPECS) {
  const w = await store.beginWrite(view, { start, end }, specs);
  for (const c of chunks) await w.writeChunk(c);
  return w.commit();
}

async function dataFiles(view: string): Promise<string[]> {
  return (await readdir(join(root, view, "data"))).sort();
}

async function manifestFiles(store: OfflineStore, view: string): Promise<string[]> {
  const snap = await store.snapshot(view);
  return (snap?.segments ?? []).flatMap((s) => s.files.map((f) => f.file.split("/").pop()!)).sort();
}

function storeError(pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof LarderError, String(err));
    assert.equal(err.code, "OFFLINE_STORE_ERROR", err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe("OfflineStore range writes", () => {
  test("write [0,100) then [50,150): [0,50) kept from the first, [50,150) from the second, no duplicates", async () => {
    const store = new OfflineStore(root);
    const view = "replace";
    assert.equal(await store.snapshot(view), undefined);
    // two chunks per key range, so the first write has files on both sides of 50 and one straddling it
    const r1 = await write(store, view, 0, 100, [chunk(0, 100, 1, [0]), chunk(0, 40, 1, [1, 2]), chunk(40, 100, 1, [1, 2])]);
    assert.deepEqual(r1, { rows: 30, files: 3 });
    assert.deepEqual(sorted(rows(await store.readView(view))), expected([{ start: 0, end: 100, tag: 1 }]));

    const r2 = await write(store, view, 50, 150, [chunk(50, 150, 2)]);
    assert.deepEqual(r2, { rows: 30, files: 1 });
    const got = sorted(rows(await store.readView(view)));
    assert.equal(got.length, 45);
    assert.deepEqual(
      got,
      expected([
        { start: 0, end: 50, tag: 1 },
        { start: 50, end: 150, tag: 2 },
      ]),
    );

    const snap = (await store.snapshot(view))!;
    assert.deepEqual(
      snap.segments.map((s) => [s.start, s.end]),
      [
        [0, 50],
        [50, 150],
      ],
    );
    assert.equal(snap.version, 2);
    assert.deepEqual(snap.columns, SPECS);
    for (const s of snap.segments) for (const f of s.files) assert.ok(f.minTs >= s.start && f.maxTs < s.end && f.rows > 0);
    // superseded files are gone: data/ holds exactly the manifest's files
    assert.deepEqual(await dataFiles(view), await manifestFiles(store, view));
    // files keep their sort order after trimming
    for (const s of snap.segments) {
      for (const f of s.files) {
        const b = rows(await store.readFile(f));
        assert.deepEqual(b, sorted(b));
      }
    }
  });

  test("a range inside a segment splits it; a write with no rows clears its range", async () => {
    const store = new OfflineStore(root);
    const view = "split";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    await write(store, view, 30, 60, [chunk(30, 60, 2)]);
    assert.deepEqual(
      (await store.snapshot(view))!.segments.map((s) => [s.start, s.end]),
      [
        [0, 30],
        [30, 60],
        [60, 100],
      ],
    );
    assert.deepEqual(
      sorted(rows(await store.readView(view))),
      expected([
        { start: 0, end: 30, tag: 1 },
        { start: 30, end: 60, tag: 2 },
        { start: 60, end: 100, tag: 1 },
      ]),
    );
    const r = await write(store, view, 20, 70, []);
    assert.deepEqual(r, { rows: 0, files: 0 });
    const snap = (await store.snapshot(view))!;
    assert.deepEqual(
      snap.segments.map((s) => [s.start, s.end, s.files.length]),
      [
        [0, 20, 1],
        [20, 70, 0],
        [70, 100, 1],
      ],
    );
    assert.deepEqual(
      sorted(rows(await store.readView(view))),
      expected([
        { start: 0, end: 20, tag: 1 },
        { start: 70, end: 100, tag: 1 },
      ]),
    );
    assert.deepEqual(await dataFiles(view), await manifestFiles(store, view));
  });

  test("re-running the same range with the same data gives the same rows", async () => {
    const store = new OfflineStore(root);
    const view = "idempotent";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    await write(store, view, 50, 150, [chunk(50, 150, 2)]);
    const first = sorted(rows(await store.readView(view)));
    for (let i = 0; i < 2; i++) {
      await write(store, view, 50, 150, [chunk(50, 150, 2)]);
      assert.deepEqual(sorted(rows(await store.readView(view))), first);
    }
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    await write(store, view, 50, 150, [chunk(50, 150, 2)]);
    assert.deepEqual(sorted(rows(await store.readView(view))), first);
    assert.equal((await store.snapshot(view))!.version, 6);
    assert.deepEqual(await dataFiles(view), await manifestFiles(store, view));
  });

  test("abort leaves the manifest unchanged and removes its files; readers never see an uncommitted write", async () => {
    const store = new OfflineStore(root);
    const view = "abort";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    const manifest = await readFile(join(root, view, "manifest.json"), "utf8");
    const filesBefore = await dataFiles(view);
    const w = await store.beginWrite(view, { start: 0, end: 200 }, SPECS);
    await w.writeChunk(chunk(0, 200, 9));
    assert.equal((await dataFiles(view)).length, filesBefore.length + 1, "the chunk is on disk");
    assert.deepEqual(sorted(rows(await store.readView(view))), expected([{ start: 0, end: 100, tag: 1 }]), "but not visible");
    await w.abort();
    await w.abort(); // idempotent
    assert.equal(await readFile(join(root, view, "manifest.json"), "utf8"), manifest);
    assert.deepEqual(await dataFiles(view), filesBefore);
    assert.ok(!existsSync(join(root, view, ".lock")));
    await assert.rejects(w.commit(), storeError(/after the write was committed or aborted/));
  });

  test("invalid chunks are rejected and never written", async () => {
    const store = new OfflineStore(root, { lockTimeoutMs: 2000 });
    const view = "invalid";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    const before = await dataFiles(view);
    const w = await store.beginWrite(view, { start: 0, end: 100 }, SPECS);
    const good = chunk(0, 100, 2);
    const missing = makeBatch(new Map([...good.columns].filter(([n]) => n !== "v")));
    await assert.rejects(w.writeChunk(missing), storeError(/missing v/));
    const extra = makeBatch(new Map([...good.columns, ["zzz", columnFromValues("int32", Array(good.numRows).fill(1), "zzz")]]));
    await assert.rejects(w.writeChunk(extra), storeError(/unexpected zzz/));
    await assert.rejects(w.writeChunk(chunk(50, 110, 2)), storeError(/row 5 has event timestamp ts = 100 .*outside the write range/));
    await assert.rejects(w.writeChunk(chunk(-10, 50, 2)), storeError(/outside the write range/));
    const nullTs = makeBatch(new Map([...good.columns].map(([n, c]) => [n, n === "ts" ? columnFromValues("timestamp", Array(good.numRows).fill(null), "ts") : c])));
    await assert.rejects(w.writeChunk(nullTs), storeError(/= null/));
    const wrongType = makeBatch(new Map([...good.columns].map(([n, c]) => [n, n === "v" ? columnFromValues("string", Array(good.numRows).fill("x"), "v") : c])));
    await assert.rejects(w.writeChunk(wrongType), storeError(/"v" has type string, the view declares float64/));
    assert.deepEqual(await dataFiles(view), before, "nothing was written");
    await w.writeChunk(good); // the write is still usable
    await w.commit();
    assert.deepEqual(sorted(rows(await store.readView(view))), expected([{ start: 0, end: 100, tag: 2 }]));

    await assert.rejects(store.beginWrite(view, { start: 10, end: 10 }, SPECS), storeError(/start < end/));
    await assert.rejects(store.beginWrite("../escape", { start: 0, end: 10 }, SPECS), storeError(/invalid feature view name/));
    await assert.rejects(
      store.beginWrite(
        view,
        { start: 0, end: 10 },
        SPECS.filter((c) => c.role !== "event_ts"),
      ),
      storeError(/event_ts/),
    );
  });

  test("a schema change replaces all segments", async () => {
    const store = new OfflineStore(root);
    const view = "schema";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    await write(store, view, 200, 300, [chunk(200, 300, 1)]);
    const specs2: OfflineColumnSpec[] = SPECS.filter((c) => c.name !== "label");
    const c = chunk(50, 150, 2);
    c.columns.delete("label");
    await write(store, view, 50, 150, [c], specs2);
    const snap = (await store.snapshot(view))!;
    assert.deepEqual(snap.columns, specs2);
    assert.deepEqual(
      snap.segments.map((s) => [s.start, s.end]),
      [[50, 150]],
    );
    const expect = expected([{ start: 50, end: 150, tag: 2 }]).map(({ label: _label, ...r }) => r);
    assert.deepEqual(sorted(rows(await store.readView(view))), expect);
    assert.deepEqual(await dataFiles(view), await manifestFiles(store, view));
    // the same specs in another order are not a schema change
    const reordered = [...specs2].reverse();
    await write(store, view, 150, 160, [makeBatch(new Map([...chunk(150, 160, 3).columns].filter(([n]) => n !== "label")))], reordered);
    assert.deepEqual(
      (await store.snapshot(view))!.segments.map((s) => [s.start, s.end]),
      [
        [50, 150],
        [150, 160],
      ],
    );
  });
});

describe("OfflineStore concurrency and crashes", () => {
  test("writers of one view are serialised by the lock", async () => {
    const store = new OfflineStore(root);
    const view = "serial";
    const a = await store.beginWrite(view, { start: 0, end: 100 }, SPECS);
    let bStarted = false;
    const bPromise = store.beginWrite(view, { start: 50, end: 150 }, SPECS).then((w) => {
      bStarted = true;
      return w;
    });
    await a.writeChunk(chunk(0, 100, 1));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(bStarted, false, "the second writer waits");
    await a.commit();
    const b = await bPromise;
    await b.writeChunk(chunk(50, 150, 2));
    await b.commit();
    assert.deepEqual(
      sorted(rows(await store.readView(view))),
      expected([
        { start: 0, end: 50, tag: 1 },
        { start: 50, end: 150, tag: 2 },
      ]),
    );
  });

  test("a lock held by a live process times out with a clear error", async () => {
    const store = new OfflineStore(root, { lockTimeoutMs: 200 });
    const view = "timeout";
    const a = await store.beginWrite(view, { start: 0, end: 100 }, SPECS);
    await assert.rejects(store.beginWrite(view, { start: 0, end: 100 }, SPECS), storeError(new RegExp(`timed out .* held by pid ${process.pid}`)));
    await a.abort();
    const b = await store.beginWrite(view, { start: 0, end: 100 }, SPECS);
    await b.abort();
  });

  test("a killed writer leaves readers unaffected; the next writer breaks its stale lock and removes its orphans at once", async () => {
    const store = new OfflineStore(root, { lockTimeoutMs: 10_000 });
    const view = "killed";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    const manifest = await readFile(join(root, view, "manifest.json"), "utf8");
    const before = sorted(rows(await store.readView(view)));
    const filesBefore = await dataFiles(view);

    const storeUrl = new URL("../src/offline/offline-store.ts", import.meta.url).href;
    const columnarUrl = new URL("../src/data/columnar.ts", import.meta.url).href;
    const child = join(root, "child-writer.mts");
    await writeFile(
      child,
      `import { OfflineStore } from ${JSON.stringify(storeUrl)};
import { columnFromValues, makeBatch } from ${JSON.stringify(columnarUrl)};
const store = new OfflineStore(${JSON.stringify(root)});
const w = await store.beginWrite(${JSON.stringify(view)}, { start: 0, end: 200 }, ${JSON.stringify(SPECS)});
for (let part = 0; part < 2; part++) {
  const n = 50;
  const ts = Array.from({ length: n }, (_, i) => part * 100 + i * 2);
  await w.writeChunk(makeBatch({
    k: columnFromValues("int64", Array(n).fill(7), "k"),
    ts: columnFromValues("timestamp", ts, "ts"),
    created: columnFromValues("timestamp", ts, "created"),
    v: columnFromValues("float64", ts, "v"),
    label: columnFromValues("string", ts.map(String), "label"),
  }));
}
process.stdout.write("READY\\n");
setInterval(() => {}, 1000); // wait to be killed, never committing
`,
    );
    const proc = spawn(process.execPath, ["--import", "tsx", child], { stdio: ["ignore", "pipe", "pipe"], cwd: fileURLToPath(new URL("..", import.meta.url)) });
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("READY")) resolve();
      });
      proc.on("exit", (code) => reject(new Error(`child exited early (${code}): ${stderr}`)));
    });
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;

    const lock = JSON.parse(await readFile(join(root, view, ".lock"), "utf8")) as { pid: number };
    assert.equal(lock.pid, proc.pid, "the dead writer's lock is still there");
    const orphans = (await dataFiles(view)).filter((f) => !filesBefore.includes(f));
    assert.equal(orphans.length, 2, "its two chunk files are on disk");
    // readers: unaffected
    assert.equal(await readFile(join(root, view, "manifest.json"), "utf8"), manifest);
    assert.deepEqual(sorted(rows(await store.readView(view))), before);

    // the next writer proceeds (stale lock broken) and, holding the lock, removes the dead writer's
    // files although they are seconds old: only a lock holder writes under data/
    const next = await store.beginWrite(view, { start: 100, end: 200 }, SPECS);
    const left = await dataFiles(view);
    for (const o of orphans) assert.ok(!left.includes(o), `orphan ${o} removed when the next writer took the lock`);
    await next.writeChunk(chunk(100, 200, 2));
    await next.commit();
    assert.deepEqual(
      sorted(rows(await store.readView(view))),
      expected([
        { start: 0, end: 100, tag: 1 },
        { start: 100, end: 200, tag: 2 },
      ]),
    );
    assert.deepEqual(await dataFiles(view), await manifestFiles(store, view));
    assert.ok(!existsSync(join(root, view, ".lock")));
  });

  test("a reader whose snapshot's files were replaced re-reads a fresh snapshot", async () => {
    const store = new OfflineStore(root);
    const view = "stale-reader";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    const old = (await store.snapshot(view))!;
    await write(store, view, 0, 100, [chunk(0, 100, 2)]);
    const oldFile = old.segments[0]!.files[0]!;
    await assert.rejects(store.readFile(oldFile), (err: unknown) => isSnapshotGone(err));
    let calls = 0;
    const got = await store.withSnapshot(view, async (snap) => {
      calls++;
      const s = calls === 1 ? old : snap!; // the first attempt uses the stale snapshot
      return rows(await store.readFile(s.segments[0]!.files[0]!));
    });
    assert.equal(calls, 2);
    assert.deepEqual(sorted(got), expected([{ start: 0, end: 100, tag: 2 }]));
  });

  test("dropView removes the view", async () => {
    const store = new OfflineStore(root);
    const view = "dropme";
    await write(store, view, 0, 100, [chunk(0, 100, 1)]);
    assert.ok((await store.views()).includes(view));
    await store.dropView(view);
    assert.equal(await store.snapshot(view), undefined);
    assert.ok(!existsSync(join(root, view)));
    assert.ok(!(await store.views()).includes(view));
    await store.dropView(view); // no-op
  });
});
