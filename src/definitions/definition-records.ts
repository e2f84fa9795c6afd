import type { DefinitionRecord } from "../registry/registry-store.js";
import { allDefinitions, definitionHash, definitionSpec, type RepoDefinitions } from "./repo-definitions.js";

/** The registry records of a repository's definitions: JSON specs with content hashes. */
export function definitionRecords(repo: RepoDefinitions): DefinitionRecord[] {
  return allDefinitions(repo).map((def) => ({ kind: def.kind, name: def.name, spec: definitionSpec(def), hash: definitionHash(def) }));
}
