import { existsSync } from "node:fs";
import Module, { register } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register as registerTsxCjs } from "tsx/cjs/api";
import { register as registerTsx } from "tsx/esm/api";

/** The package name users install and import; `larder` is the command, and an old import name. */
export const PACKAGE_NAME = "larder-feature-store";

// Feature files `import … from "larder-feature-store"` (or the older "larder"); this resolve hook
// points those at this very package (dist/ when built, src/ under tsx), so definitions and the code
// reading them share one module instance, whether or not the package is installed where they live.
const HOOK = `
let targets;
export async function initialize(data) { targets = data.targets; }
export async function resolve(specifier, context, next) {
  const url = Object.hasOwn(targets, specifier) ? targets[specifier] : undefined;
  if (url !== undefined) return { url, shortCircuit: true };
  return next(specifier, context);
}`;

let installed = false;

/** Import specifiers of this package → its files: the main entry and `/server`, under both names. */
function packageEntries(): Record<string, string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = (rel: string): string => {
    const js = resolve(here, `${rel}.js`);
    return existsSync(js) ? js : resolve(here, `${rel}.ts`);
  };
  const main = file("../index");
  const server = file("../server/index");
  const entries: Record<string, string> = {};
  for (const name of [PACKAGE_NAME, "larder"]) {
    entries[name] = main;
    entries[`${name}/server`] = server;
  }
  return entries;
}

// A feature repository without `"type": "module"` has its .ts files compiled to CommonJS, whose
// require("larder-feature-store") bypasses ESM hooks: point the CommonJS resolver at the same files
// (Node 20.19+ loads ESM through require, into the same module instance).
interface CjsResolver {
  _resolveFilename(request: string, ...rest: unknown[]): string;
}
function patchCommonJsResolution(entries: Record<string, string>): void {
  const loader = Module as unknown as CjsResolver;
  const original = loader._resolveFilename;
  loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return Object.hasOwn(entries, request) ? entries[request]! : original.call(this, request, ...rest);
  };
}

function install(): void {
  if (installed) return;
  installed = true;
  // TypeScript through tsx's loader (esbuild): fast, and native ESM semantics. Harmless if the
  // process already runs under tsx.
  registerTsx();
  registerTsxCjs();
  const entries = packageEntries();
  const targets = Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, pathToFileURL(file).href]));
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { targets } });
  patchCommonJsResolution(entries);
}

let generation = 0;

/**
 * Imports a user's TypeScript or JavaScript module (config or definitions) in-process. Each call
 * loads the file afresh (a query string defeats the ESM cache, and its CommonJS cache entry is
 * dropped), so a changed file is seen by a long-lived process; modules it imports are cached as
 * usual.
 */
export async function importUserModule(file: string): Promise<Record<string, unknown>> {
  install();
  // A .ts file outside a `"type": "module"` package is compiled to CommonJS, and Node caches
  // CommonJS modules by file name whatever the query string: drop that entry so it reloads.
  const cache = (Module as unknown as { _cache: Record<string, unknown> })._cache;
  delete cache[resolve(file)];
  const url = `${pathToFileURL(file).href}?larder=${++generation}`;
  return (await import(url)) as Record<string, unknown>;
}
