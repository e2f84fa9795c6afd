import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { LarderError } from "../../errors.js";
import { formatSeconds } from "../sql-registry-store.js";

/** A held cross-process lock file; `release` is idempotent. */
export interface FileLock {
  readonly path: string;
  release(): void;
}

// A lock file still empty after this long belongs to a process that died between create and write.
const EMPTY_LOCK_GRACE_MS = 5_000;
// A breaker file older than this belongs to a process that died while breaking a stale lock.
const STALE_BREAKER_MS = 5_000;

/**
 * Takes the lock file at `path` (created with O_EXCL, holding our pid), waiting with short sleeps
 * while another live process holds it. A lock whose pid is dead is broken. Throws REGISTRY_LOCKED
 * after `timeoutMs`, naming the holder. The lock file is removed on release or when the process exits.
 *
 * @example
 * const lock = await acquireFileLock(".larder/registry.lock", { timeoutMs: 60_000, what: "the embedded registry" });
 * try { … } finally { lock.release(); }
 */
export async function acquireFileLock(path: string, opts: { timeoutMs: number; what: string }): Promise<FileLock> {
  const deadline = Date.now() + opts.timeoutMs;
  let pause = 10;
  for (;;) {
    if (tryCreate(path)) return heldLock(path);
    const holder = readHolder(path);
    if (holder === "gone") continue;
    if (holder === "dead") {
      breakStaleLock(path);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder === process.pid ? "this process (close the other registry first)" : holder === 0 ? "another process" : `process ${holder}`;
      throw new LarderError(
        "REGISTRY_LOCKED",
        `${opts.what} is in use by ${who} (lock file ${path}); gave up after ${formatSeconds(opts.timeoutMs)}. The embedded registry allows one process at a time: close the other one, or use a Postgres registry`,
        {
          lockFile: path,
          holderPid: holder,
        },
      );
    }
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    pause = Math.min(pause * 2, 200);
  }
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The holder's pid if it is alive (or may still be writing its pid), "dead" if stale, "gone" if the file vanished. */
function readHolder(path: string): number | "dead" | "gone" {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(path, "utf8");
    ageMs = Date.now() - statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw err;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) return ageMs > EMPTY_LOCK_GRACE_MS ? "dead" : 0;
  return isAlive(pid) ? pid : "dead";
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes a stale lock file. Breakers take a second O_EXCL file first and look again under it, so
 * two processes breaking the same stale lock cannot delete the fresh lock one of them just took.
 */
function breakStaleLock(path: string): void {
  const breaker = `${path}.break`;
  if (!tryCreate(breaker)) {
    try {
      if (Date.now() - statSync(breaker).mtimeMs > STALE_BREAKER_MS) unlinkSync(breaker);
    } catch {
      // Someone else finished or removed it; look again on the next round.
    }
    return;
  }
  try {
    if (readHolder(path) === "dead") unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  } finally {
    unlinkQuietly(breaker);
  }
}

function heldLock(path: string): FileLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    // Only remove the file if it is still ours.
    try {
      if (Number.parseInt(readFileSync(path, "utf8").trim(), 10) === process.pid) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
  process.on("exit", release);
  return { path, release };
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
