/**
 * The served test repository (./http-server.ts) on the shared Redis under a project name of its
 * own, with a linear model "fee" over the "churn" service, and a real server on a free port.
 * `cleanup` deletes the project's online rows, closes the server and removes the repository.
 *
 * @example
 * const fx = await createServedRedisRepo();
 * const res = await post(fx.server.url, "/v1/predict/fee", { entities: { customer_id: [1] }, request: { cart_value: 5 } });
 */
import { randomBytes } from "node:crypto";
import { promoteModel, registerModel } from "../../src/use-cases/model-registry.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { configSource } from "./feature-repo.js";
import { createServedRepo, type ServedRepo } from "./http-server.js";
import { testRedisUrl } from "./services.js";

export const TEST_REDIS_URL = testRedisUrl();

export interface ServedRedisRepo {
  repo: ServedRepo;
  project: string;
  server: RunningServer;
  cleanup(): Promise<void>;
}

export async function createServedRedisRepo(seed = 7): Promise<ServedRedisRepo> {
  const project = `served_${randomBytes(4).toString("hex")}`;
  const repo = await createServedRepo({ seed, config: configSource(project).replace(`online: "embedded"`, `online: ${JSON.stringify(TEST_REDIS_URL)}`) });
  const inputs = [
    { feature: "monthly_fee", kind: "numeric", mean: 50, std: 25, fill: 0, weight: 1 },
    { feature: "spend_2d", kind: "numeric", mean: 100, std: 100, fill: 0, weight: 0.5 },
    { feature: "fee_plus_cart", kind: "numeric", mean: 60, std: 30, fill: 0, weight: 0.25 },
  ];
  await registerModel(repo.store, { name: "fee", service: "churn", model: { format: "larder.linear.v1", objective: "linear", inputs, intercept: 1, missing: "fill" } });
  await promoteModel(repo.store, "fee", 1);
  const server = await startServer(repo.served, { port: 0, apiKeys: [], predictionLog: false });
  return {
    repo,
    project,
    server,
    cleanup: async () => {
      await server.close();
      await repo.served
        .withOnlineStore(async (online) => {
          for (const view of ["profile", "spend"]) await online.deleteView(project, view);
        })
        .catch(() => {});
      await repo.cleanup();
    },
  };
}
