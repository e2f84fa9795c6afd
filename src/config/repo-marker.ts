import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Path of a marker file under the repository's `.larder/` directory. */
export function repoMarkerPath(repoDir: string, name: string): string {
  return join(repoDir, ".larder", name);
}

/**
 * Replaces a marker file under `.larder/` atomically (write, then rename), so a reader polling it
 * sees the old content or the new, never half. Markers tell long-running servers about changes
 * made by other processes (promotions, applies) without opening the embedded registry. A
 * read-only repository is skipped: servers then notice at their next registry poll, or not.
 */
export function writeRepoMarker(repoDir: string, name: string, content: string): void {
  const path = repoMarkerPath(repoDir, name);
  try {
    mkdirSync(join(repoDir, ".larder"), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch {
    // see above
  }
}
