import { resolve } from "node:path";
import type { Command } from "commander";
import { LarderError } from "../errors.js";
import type { FeatureStore } from "../feature-store.js";
import { openStore } from "./open-store.js";

/** Registers `larder serve [--host H] [--port P]`: the HTTP server and the schedules. */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("run the HTTP feature server (Feast-compatible) and the feature views' schedules")
    .option("--host <host>", "address to listen on (without API keys only loopback addresses are allowed)", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 picks a free one)", "6566")
    .action(async (o: { host: string; port: string }, cmd: Command) => {
      const port = Number(o.port);
      if (!/^\s*\d+\s*$/.test(o.port) || port > 65535) throw new LarderError("INVALID_ARGUMENT", `--port ${JSON.stringify(o.port)}: expected a port number 0-65535`);
      const store = await openStore(resolve(cmd.optsWithGlobals<{ repo: string }>().repo), { holdOnlineStore: true });
      await serve(store, o.host, port);
    });
}

/**
 * Runs the server, the scheduler and the definitions watcher (reloads after `larder apply`) until
 * SIGINT or SIGTERM, then shuts down in order: stop
 * accepting requests (in-flight ones finish), stop the scheduler (a run in progress finishes),
 * close the online store connection. A second signal exits at once.
 */
async function serve(store: FeatureStore, host: string, port: number): Promise<void> {
  const log = (line: string) => console.log(line);
  // Loaded here: the other commands never load fastify or the scheduler.
  const { startServer } = await import("../server/app.js");
  const { startScheduler } = await import("../use-cases/scheduler.js");
  const { DefinitionsWatcher } = await import("../config/definitions-watcher.js");
  let stopping = false;
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolveStop) => {
    onSignal = (signal) => {
      if (stopping) {
        process.stderr.write(`error [INTERNAL]: ${signal} again during shutdown; exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      resolveStop(signal);
    };
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let scheduler: ReturnType<typeof startScheduler> | undefined;
  const interval = store.repo.config.server.definitionsPollInterval;
  // Definitions changed by `larder apply` are reloaded for serving and for the schedules.
  const watcher = new DefinitionsWatcher(store, { log, ...(interval !== null ? { intervalMs: interval } : {}), onReload: () => void scheduler?.reload() });
  try {
    server = await startServer(store, { host, port, log });
    scheduler = startScheduler(store, { log });
    watcher.start();
    log(`larder serve: project ${store.project} listening on ${server.url} (OpenAPI: ${server.url}/docs)`);
    const signal = await stopped;
    log(`larder serve: ${signal}, shutting down`);
  } finally {
    await watcher.stop();
    await server?.close();
    await scheduler?.stop();
    await store.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  log("larder serve: stopped");
}
