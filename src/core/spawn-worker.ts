// Starts a worker thread on a module that sits next to the caller, with the caller's own extension: .js from the
// compiled dist/, .ts when running from sources (vitest, the benchmarks). Node 20 cannot load .ts by itself, so from
// sources the worker first registers tsx's loader (a dev dependency); production never takes that path.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** tsx's ESM API, resolved from here rather than from the worker's cwd. */
function tsxApiUrl(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    // A runner without import.meta.resolve: the require entry sits next to the import one.
    return pathToFileURL(
      createRequire(import.meta.url)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
  }
}

/** The URL of the sibling module `name` (without extension) of `callerUrl` (the caller's import.meta.url). */
export function siblingModule(callerUrl: string, name: string): URL {
  const caller = new URL(callerUrl);
  return new URL(`./${name}${caller.pathname.endsWith('.ts') ? '.ts' : '.js'}`, caller);
}

/** A worker running `moduleUrl` (from siblingModule); `options` as Node's (eval is this function's business). */
export function spawnWorker(moduleUrl: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options);
  const bootstrap =
    `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl.href)}); })` +
    '.catch((error) => { setImmediate(() => { throw error; }); });';
  return new Worker(bootstrap, { ...options, eval: true });
}
