// The lint plugins that parse TypeScript through TypeScript's JavaScript API. The project compiles with TypeScript 7
// (the native compiler), which no longer ships that API, and typescript-eslint supports TypeScript < 6.1; so these
// plugins live in this small package with a TypeScript 6 of their own, and eslint.config.js takes them from here.
import './typescript-6.js';
export { default as tseslint } from 'typescript-eslint';
export { default as importX, createNodeResolver } from 'eslint-plugin-import-x';
