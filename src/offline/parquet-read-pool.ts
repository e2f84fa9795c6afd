import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { LarderError, type ErrorCode } from "../errors.js";
import type { ColumnarBatch } from "./columnar.js";

interface Pending {
  resolve: (b: ColumnarBatch) => void;
  reject: (e: unknown) => void;
}

/**
 * Decodes Parquet files on a worker thread, so a reader can decode the next file while it joins
 * the current one. One worker (this machine class has two cores: one decodes, one joins); it is
 * unref'd, so it never keeps a process alive.
 */
export class ParquetReadPool {
  private static sharedPool: ParquetReadPool | undefined;

  /** The process-wide pool: one decoding worker however many stores are open. */
  static shared(): ParquetReadPool {
    ParquetReadPool.sharedPool ??= new ParquetReadPool();
    return ParquetReadPool.sharedPool;
  }

  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const here = dirname(fileURLToPath(import.meta.url));
    const js = resolve(here, "parquet-read-worker.js");
    // Built: the .js sibling. From source (tests under tsx): the .ts file, through tsx's loader,
    // resolved from here rather than from the working directory (which may be any repository).
    const worker = existsSync(js)
      ? new Worker(js)
      : new Worker(
          `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(resolve(here, "parquet-read-worker.ts")).href)}); });`,
          { eval: true },
        );
    worker.unref();
    worker.on("message", (msg: { id: number; batch?: ColumnarBatch; error?: { message: string; code?: ErrorCode; details?: Record<string, unknown>; nodeCode?: unknown } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) worker.unref();
      if (msg.batch) p.resolve(msg.batch);
      else {
        const e = msg.error!;
        if (e.code) p.reject(new LarderError(e.code, e.message, e.details ?? {}));
        else p.reject(Object.assign(new Error(e.message), { code: e.nodeCode }));
      }
    });
    worker.on("error", (err) => this.failAll(err));
    worker.on("exit", () => {
      this.worker = null;
      this.failAll(new LarderError("INTERNAL", "the Parquet decoding worker exited"));
    });
    this.worker = worker;
    return worker;
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  read(path: string, columns?: string[]): Promise<ColumnarBatch> {
    const worker = this.start();
    const id = this.nextId++;
    worker.ref();
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject });
      worker.postMessage({ id, path, ...(columns ? { columns } : {}) });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
