import type { AnyDefinition } from "../definitions/definition-types.js";
import { definitionHash, type RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError } from "../errors.js";
import type { RegistryStore } from "../registry/registry-store.js";
import type { AppContext } from "./app-context.js";

/**
 * Throws NOT_APPLIED unless each view (or source) named, and everything it is built from
 * (entities, sources, the inputs of on-demand views), is applied exactly as `definitions` define it.
 */
export async function assertApplied(project: string, definitions: RepoDefinitions, registry: RegistryStore, names: readonly string[]): Promise<void> {
  const needed = new Map<string, AnyDefinition>();
  const visit = (def: AnyDefinition): void => {
    const id = `${def.kind}:${def.name}`;
    if (needed.has(id)) return;
    needed.set(id, def);
    if (def.kind === "feature_view") {
      def.entities.forEach(visit);
      visit(def.source);
    } else if (def.kind === "source" && def.type === "push") visit(def.batchSource);
    else if (def.kind === "on_demand_feature_view") def.sources.forEach(visit);
  };
  for (const name of names) {
    const def = definitions.featureViews.get(name) ?? definitions.onDemandFeatureViews.get(name) ?? definitions.sources.get(name);
    if (def) visit(def);
  }
  for (const def of needed.values()) {
    const what = `${def.kind.replaceAll("_", " ")} ${JSON.stringify(def.name)}`;
    const applied = await registry.getDefinition(project, def.kind, def.name);
    if (!applied) throw new LarderError("NOT_APPLIED", `${what} is not applied; run \`larder apply\` first`, { kind: def.kind, name: def.name });
    if (applied.hash !== definitionHash(def)) {
      throw new LarderError("NOT_APPLIED", `${what} changed since the last apply; run \`larder plan\` and \`larder apply\``, { kind: def.kind, name: def.name });
    }
  }
}

/** Sets of names whose check passed, per definitions object (replaced definitions start afresh). */
const passed = new WeakMap<RepoDefinitions, Set<string>>();

/**
 * `assertApplied`, remembered once it passed: definitions are loaded once (or swapped as a whole),
 * so a passed check stays true for them unless someone applies other definitions meanwhile, and a
 * push (a server's hot path) should not open the registry each time (the embedded one costs most
 * of a second). The price: after another process applies changed definitions, the store keeps
 * pushing with the definitions it serves until it reloads them — as it serves them anyway.
 */
export async function assertAppliedCached(ctx: AppContext, names: readonly string[]): Promise<void> {
  const definitions = ctx.repo.definitions;
  const key = JSON.stringify(names);
  if (passed.get(definitions)?.has(key)) return;
  await ctx.withRegistry((r) => assertApplied(ctx.project, definitions, r, names));
  let set = passed.get(definitions);
  if (set === undefined) passed.set(definitions, (set = new Set()));
  set.add(key);
}
