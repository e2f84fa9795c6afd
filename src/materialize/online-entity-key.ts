import { normaliseKeyPart } from "../offline/entity-keys.js";
import { encodeEntityKey, type EntityKeyPart } from "../online/entity-key-codec.js";
import type { ValueType } from "../types.js";

/**
 * The online store key of an entity from its join key values (in join key order), normalised to
 * the entity's types first, as the offline join does: "5" and 5 are one entity for int64 and
 * string keys. Null when a key part is null (such a row matches nothing). Materialization and
 * online reads both go through this one function, so a written key is the key a read asks for.
 */
export function onlineEntityKey(parts: readonly unknown[], types: readonly ValueType[], names: readonly string[]): string | null {
  const norm: EntityKeyPart[] = [];
  for (let k = 0; k < parts.length; k++) {
    const p = normaliseKeyPart(parts[k], types[k]!, names[k]!);
    if (p === null) return null;
    norm.push(p);
  }
  return encodeEntityKey(norm);
}
