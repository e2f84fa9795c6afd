import { existsSync, readFileSync } from "node:fs";
import Module, { createRequire, register } from "node:module";
import { dirname, extname, join, resolve } from "node:path";
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

/** True when this package runs from its compiled .js files (dist/), as users run it. */
function builtPackage(): boolean {
  return packageEntries()[PACKAGE_NAME]!.endsWith(".js");
}

let installedCjs = false;

/** tsx's CommonJS hooks (in-thread require hooks) and our names for CommonJS `require`. */
function installCommonJs(): void {
  if (installedCjs) return;
  installedCjs = true;
  registerTsxCjs();
  patchCommonJsResolution(packageEntries());
}

function install(): void {
  if (installed) return;
  installed = true;
  installCommonJs();
  // TypeScript through tsx's loader (esbuild): fast, and native ESM semantics. Harmless if the
  // process already runs under tsx.
  registerTsx();
  const targets = Object.fromEntries(Object.entries(packageEntries()).map(([name, file]) => [name, pathToFileURL(file).href]));
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { targets } });
}

/**
 * True when Node loads `file` as CommonJS: a .cts/.cjs file, or a .ts/.js file whose nearest
 * package.json does not say `"type": "module"` (read afresh, as a long-lived process may see it change).
 */
function isCommonJs(file: string): boolean {
  const ext = extname(file);
  if (ext === ".cts" || ext === ".cjs") return true;
  if (ext !== ".ts" && ext !== ".js") return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, "utf8")) as { type?: unknown }).type !== "module";
      } catch {
        return true;
      }
    }
    if (dirname(dir) === dir) return true;
  }
}

// What require() throws for a file that only the ESM loader can run (top-level await, an ES module).
const NEEDS_ESM = new Set(["ERR_REQUIRE_ESM", "ERR_REQUIRE_ASYNC_MODULE"]);

let generation = 0;

/**
 * Imports a user's TypeScript or JavaScript module (config or definitions) in-process. Each call
 * loads the file afresh (a query string defeats the ESM cache, and its CommonJS cache entry is
 * dropped), so a changed file is seen by a long-lived process; modules it imports are cached as
 * usual.
 */
export async function importUserModule(file: string): Promise<Record<string, unknown>> {
  // A .ts file outside a `"type": "module"` package is compiled to CommonJS, and Node caches
  // CommonJS modules by file name whatever the query string: drop that entry so it reloads.
  const cache = (Module as unknown as { _cache: Record<string, unknown> })._cache;
  delete cache[resolve(file)];
  if (isCommonJs(file) && builtPackage()) {
    // Required directly: the ESM hooks (a loader thread, a quarter of a second of CPU at every
    // command) are started only for files that need them. Only from the built package: require()
    // of this package's own .ts sources (under tsx, in development) needs the ESM hooks.
    installCommonJs();
    try {
      return namespaceOf(createRequire(file)(resolve(file)));
    } catch (err) {
      if (!NEEDS_ESM.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      delete cache[resolve(file)];
    }
  }
  install();
  const url = `${pathToFileURL(file).href}?larder=${++generation}`;
  return (await import(url)) as Record<string, unknown>;
}

/**
 * What `import()` gives for a CommonJS module: `default` is module.exports, beside its named
 * exports, keys in sorted order (so definitions are collected in the same order either way).
 */
function namespaceOf(exports: unknown): Record<string, unknown> {
  const named = typeof exports === "object" && exports !== null ? (exports as Record<string, unknown>) : {};
  const ns: Record<string, unknown> = {};
  for (const key of [...Object.keys(named).filter((k) => k !== "__esModule"), "default"].sort()) ns[key] = key === "default" ? exports : named[key];
  return ns;
}
