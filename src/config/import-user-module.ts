import { existsSync } from "node:fs";
import Module, { register } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register as registerTsxCjs } from "tsx/cjs/api";
import { register as registerTsx } from "tsx/esm/api";

// Feature files `import … from "larder"`; this resolve hook points that at this very package (dist/
// when built, src/ under tsx), so definitions and the code reading them share one module instance.
const HOOK = `
let target;
export async function initialize(data) { target = data.target; }
export async function resolve(specifier, context, next) {
  if (specifier === "larder") return { url: target, shortCircuit: true };
  return next(specifier, context);
}`;

let installed = false;

function larderEntryPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = resolve(here, "../index.js");
  return existsSync(js) ? js : resolve(here, "../index.ts");
}

// A feature repository without `"type": "module"` has its .ts files compiled to CommonJS, whose
// require("larder") bypasses ESM hooks: point the CommonJS resolver at the same entry (Node 20.19+
// loads ESM through require, into the same module instance).
interface CjsResolver {
  _resolveFilename(request: string, ...rest: unknown[]): string;
}
function patchCommonJsResolution(entry: string): void {
  const loader = Module as unknown as CjsResolver;
  const original = loader._resolveFilename;
  loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return request === "larder" ? entry : original.call(this, request, ...rest);
  };
}

function install(): void {
  if (installed) return;
  installed = true;
  // TypeScript through tsx's loader (esbuild): fast, and native ESM semantics. Harmless if the
  // process already runs under tsx.
  registerTsx();
  registerTsxCjs();
  const entry = larderEntryPath();
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { target: pathToFileURL(entry).href } });
  patchCommonJsResolution(entry);
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
