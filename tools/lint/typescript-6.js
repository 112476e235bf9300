// Makes the lint packages see TypeScript 6 even when npm hoists one of them out of tools/lint/.
// npm places ts-api-utils (a dependency of typescript-eslint whose peer range TypeScript 7 satisfies on paper) in
// the root node_modules, beside the project's TypeScript 7, which has no JavaScript API; loaded from there it breaks.
// So a request for `typescript` from typescript-eslint's own packages resolves to this folder's TypeScript 6.
// Only those packages are redirected: the project's tsc, tsx and vite never pass through here.
import Module, { createRequire } from 'node:module';

const typescript6 = createRequire(import.meta.url).resolve('typescript');
const LINT_PACKAGES = /[\\/]node_modules[\\/](?:ts-api-utils|typescript-eslint|@typescript-eslint)[\\/]/;

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'typescript' && parent?.filename && LINT_PACKAGES.test(parent.filename)) return typescript6;
  return resolveFilename.call(this, request, parent, ...rest);
};
