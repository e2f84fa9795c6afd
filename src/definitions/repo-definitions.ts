import { createHash } from "node:crypto";
import { LarderError } from "../errors.js";
import type { AnyDefinition, EntityDef, FeatureServiceDef, FeatureViewDef, OnDemandFeatureViewDef, SourceDef } from "./definition-types.js";

/** Every definition of a feature repository, by kind and name. */
export interface RepoDefinitions {
  entities: Map<string, EntityDef>;
  sources: Map<string, SourceDef>;
  featureViews: Map<string, FeatureViewDef>;
  onDemandFeatureViews: Map<string, OnDemandFeatureViewDef>;
  featureServices: Map<string, FeatureServiceDef>;
}

const KINDS = new Set(["entity", "source", "feature_view", "on_demand_feature_view", "feature_service"]);

function isDefinition(v: unknown): v is AnyDefinition {
  return typeof v === "object" && v !== null && KINDS.has((v as { kind?: string }).kind ?? "");
}

/**
 * Collects the definitions exported by the given modules, and the ones they reference (a source
 * used by an exported view need not be exported itself). Two different objects with one name are
 * an error; feature views and on-demand views share one namespace, as feature references do.
 */
export function collectDefinitions(modules: Record<string, unknown>[]): RepoDefinitions {
  const repo: RepoDefinitions = { entities: new Map(), sources: new Map(), featureViews: new Map(), onDemandFeatureViews: new Map(), featureServices: new Map() };
  const seen = new Set<AnyDefinition>();
  const add = <T extends AnyDefinition>(map: Map<string, T>, def: T, label: string) => {
    const prev = map.get(def.name);
    if (prev && prev !== def) {
      throw new LarderError("INVALID_DEFINITION", `two ${label}s are named ${JSON.stringify(def.name)}; names must be unique`, { name: def.name });
    }
    map.set(def.name, def);
  };
  const visit = (def: AnyDefinition): void => {
    if (seen.has(def)) return;
    seen.add(def);
    switch (def.kind) {
      case "entity":
        add(repo.entities, def, "entity");
        break;
      case "source":
        add(repo.sources, def, "source");
        if (def.type === "push") visit(def.batchSource);
        break;
      case "feature_view":
        if (repo.onDemandFeatureViews.has(def.name)) throw new LarderError("INVALID_DEFINITION", `a feature view and an on-demand feature view are both named ${JSON.stringify(def.name)}`, { name: def.name });
        add(repo.featureViews, def, "feature view");
        def.entities.forEach(visit);
        visit(def.source);
        break;
      case "on_demand_feature_view":
        if (repo.featureViews.has(def.name)) throw new LarderError("INVALID_DEFINITION", `a feature view and an on-demand feature view are both named ${JSON.stringify(def.name)}`, { name: def.name });
        add(repo.onDemandFeatureViews, def, "on-demand feature view");
        def.sources.forEach(visit);
        break;
      case "feature_service":
        add(repo.featureServices, def, "feature service");
        for (const p of def.features) visit(p.view);
        break;
    }
  };
  for (const mod of modules) for (const value of Object.values(mod)) if (isDefinition(value)) visit(value);
  return repo;
}

/** Stable JSON: object keys sorted, so equal specs hash equally. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/**
 * The JSON form of a definition stored in the registry: references by name, functions by source
 * text, so a changed transform is a changed definition.
 */
export function definitionSpec(def: AnyDefinition): Record<string, unknown> {
  switch (def.kind) {
    case "entity":
      return { name: def.name, joinKeys: def.joinKeys, valueTypes: def.valueTypes, description: def.description, tags: def.tags };
    case "source": {
      if (def.type === "push") return { name: def.name, type: def.type, batchSource: def.batchSource.name, description: def.description, tags: def.tags };
      return { ...def };
    }
    case "feature_view":
      return {
        name: def.name,
        entities: def.entities.map((e) => e.name),
        source: def.source.name,
        schema: def.schema,
        ttl: def.ttl,
        transform: def.transform ? def.transform.toString() : null,
        aggregations: def.aggregations,
        schedule: def.schedule,
        online: def.online,
        owner: def.owner,
        description: def.description,
        tags: def.tags,
      };
    case "on_demand_feature_view":
      return {
        name: def.name,
        sources: def.sources.map((s) => ({ kind: s.kind, name: s.name })),
        schema: def.schema,
        transform: def.transform.toString(),
        owner: def.owner,
        description: def.description,
        tags: def.tags,
      };
    case "feature_service":
      return { name: def.name, features: def.features.map((p) => ({ view: p.view.name, features: p.features })), owner: def.owner, description: def.description, tags: def.tags };
  }
}

export function definitionHash(def: AnyDefinition): string {
  return createHash("sha256")
    .update(stableStringify(definitionSpec(def)))
    .digest("hex")
    .slice(0, 16);
}

export function allDefinitions(repo: RepoDefinitions): AnyDefinition[] {
  return [...repo.entities.values(), ...repo.sources.values(), ...repo.featureViews.values(), ...repo.onDemandFeatureViews.values(), ...repo.featureServices.values()];
}
