import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { definitionRecords } from "../definitions/definition-records.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { toLarderError } from "../errors.js";
import type { RegistryStore } from "../registry/registry-store.js";
import { CONFIG_FILES, loadRepo, type FeatureRepo } from "./load-repo.js";
import { repoMarkerPath, writeRepoMarker } from "./repo-marker.js";

/**
 * What a set of applied definitions is, in one string: the SHA-256 of their sorted
 * kind/name/content-hash triples. The registry's current definitions and a repository's files
 * give equal fingerprints exactly when `plan` would show nothing to do.
 */
export function definitionsFingerprint(records: readonly { kind: string; name: string; hash: string }[]): string {
  const lines = records.map((r) => `${r.kind}\u0000${r.name}\u0000${r.hash}`).sort();
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

/** The fingerprint of definitions loaded from files. */
export function repoFingerprint(definitions: RepoDefinitions): string {
  return definitionsFingerprint(definitionRecords(definitions));
}

/** The file `apply` rewrites with the applied definitions' fingerprint (see `DefinitionsWatcher`). */
export function appliedMarkerPath(repoDir: string): string {
  return repoMarkerPath(repoDir, "definitions-applied");
}

/** Records the applied definitions' fingerprint for servers on this repository (see `DefinitionsWatcher`). */
export function writeAppliedMarker(repoDir: string, fingerprint: string): void {
  writeRepoMarker(repoDir, "definitions-applied", `${fingerprint}\n`);
}

/** What one check did. */
export type DefinitionsCheck =
  | { status: "unchanged" }
  | { status: "reloaded"; added: string[]; changed: string[]; removed: string[] }
  /** The registry changed, but the repository's files do not (yet) define what was applied. */
  | { status: "mismatch" }
  | { status: "failed"; error: string };

export interface DefinitionsWatcherOptions {
  /** How often to check, ms. Default: 500 with the embedded registry (a marker file), 2000 with Postgres. */
  intervalMs?: number;
  log: (line: string) => void;
  /** Called after each swap, with the new definitions (the scheduler re-reads its schedules). */
  onReload?: (definitions: RepoDefinitions) => void;
}

/** What a watcher reloads: a long-running store's definitions (a FeatureStore is one). */
export interface ReloadableDefinitions {
  readonly project: string;
  readonly repo: FeatureRepo;
  withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>): Promise<T>;
  replaceDefinitions(definitions: RepoDefinitions): void;
}

/**
 * Reloads a long-running store's definitions when `larder apply` changes what the registry holds.
 *
 * **Noticing an apply.** The embedded registry admits one process at a time, so a server must not
 * poll it: `apply` writes the applied definitions' fingerprint to `.larder/definitions-applied`
 * after its commit, and the watcher reads that small file. A Postgres registry may be applied from
 * anywhere, so the watcher lists its current definitions (one query) and fingerprints them.
 *
 * **Swapping.** When the registry's fingerprint differs from the served definitions', the
 * repository's files are loaded again (config and definition files; modules they import are not
 * reloaded) and, if they are what was applied, the store swaps to them in one assignment
 * (`FeatureStore.replaceDefinitions`): a request that started on the old definitions finishes on
 * them, the next one sees the new. Files that do not match the registry (a deploy in progress)
 * are left alone and tried again when the registry or the files change. The config's other
 * settings (online store, server options) need a restart.
 */
export class DefinitionsWatcher {
  readonly #store: ReloadableDefinitions;
  readonly #embedded: boolean;
  readonly #intervalMs: number;
  readonly #log: (line: string) => void;
  readonly #onReload: ((definitions: RepoDefinitions) => void) | undefined;
  #served: string;
  /** The registry fingerprint and file times of the last reload that did not match, so it is not retried in a loop. */
  #lastMiss: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<DefinitionsCheck> | null = null;

  constructor(store: ReloadableDefinitions, options: DefinitionsWatcherOptions) {
    this.#store = store;
    this.#embedded = store.repo.config.registry === "embedded";
    this.#intervalMs = options.intervalMs ?? (this.#embedded ? 500 : 2000);
    this.#log = options.log;
    this.#onReload = options.onReload;
    this.#served = repoFingerprint(store.repo.definitions);
  }

  /** Checks every `intervalMs` until `stop`. */
  start(): void {
    if (this.#timer !== undefined || this.#intervalMs <= 0) return;
    const schedule = (): void => {
      this.#timer = setTimeout(() => void this.check().finally(() => this.#timer !== undefined && schedule()), this.#intervalMs);
      this.#timer.unref();
    };
    schedule();
  }

  /** Stops checking; waits for a check in progress. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One check (concurrent calls share it). Never throws: a failure is reported and logged. */
  check(): Promise<DefinitionsCheck> {
    this.#running ??= this.#check()
      .catch((err: unknown): DefinitionsCheck => {
        const e = toLarderError(err);
        const error = `[${e.code}] ${e.message}`;
        this.#log(`definitions: cannot check for applied changes: ${error}`);
        return { status: "failed", error };
      })
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  async #check(): Promise<DefinitionsCheck> {
    const store = this.#store;
    const applied = this.#embedded ? (await readFile(appliedMarkerPath(store.repo.dir), "utf8").catch(() => "")).trim() : definitionsFingerprint(await store.withRegistry((r) => r.listDefinitions(store.project)));
    if (applied === "" || applied === this.#served) return { status: "unchanged" };
    const attempt = `${applied} ${await this.#fileTimes()}`;
    if (attempt === this.#lastMiss) return { status: "mismatch" };
    const repo = await loadRepo(store.repo.dir);
    const loaded = repoFingerprint(repo.definitions);
    if (loaded !== applied) {
      this.#lastMiss = attempt;
      this.#log("definitions: the registry changed, but the repository's files do not define what was applied; serving the definitions loaded before");
      return { status: "mismatch" };
    }
    const before = definitionRecords(store.repo.definitions);
    const after = definitionRecords(repo.definitions);
    const key = (r: { kind: string; name: string }) => `${r.kind.replaceAll("_", " ")} ${r.name}`;
    const old = new Map(before.map((r) => [key(r), r.hash]));
    const now = new Map(after.map((r) => [key(r), r.hash]));
    const added = [...now.keys()].filter((k) => !old.has(k));
    const changed = [...now.keys()].filter((k) => old.has(k) && old.get(k) !== now.get(k));
    const removed = [...old.keys()].filter((k) => !now.has(k));
    store.replaceDefinitions(repo.definitions);
    this.#served = applied;
    this.#lastMiss = null;
    const list = (what: string, names: string[]) => (names.length > 0 ? [`${what} ${names.join(", ")}`] : []);
    this.#log(`definitions: reloaded after apply (${[...list("added", added), ...list("changed", changed), ...list("removed", removed)].join("; ") || "no object changed"})`);
    this.#onReload?.(repo.definitions);
    return { status: "reloaded", added, changed, removed };
  }

  /** Modification times of the config and definition files: a changed file is worth another load. */
  async #fileTimes(): Promise<string> {
    const { dir, config } = this.#store.repo;
    const files = [...CONFIG_FILES.map((f) => join(dir, f)), ...config.definitions.map((f) => resolve(dir, f))];
    const times = await Promise.all(
      files.map((f) =>
        stat(f).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      ),
    );
    return times.join(",");
  }
}
