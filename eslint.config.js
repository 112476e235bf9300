// ESLint for the whole repository: typescript-eslint's recommended rules, React's hook rules for web/, and the
// floors of the house as import rules, so that an arrow pointing up (or a circle) fails `npm run lint`.
// Formatting (and so line length) is Prettier's job, not ESLint's. The TypeScript parser and the import plugin come
// from tools/lint/, which keeps the TypeScript 6 they need beside them (the project itself compiles with TypeScript 7).
import { readdirSync } from 'node:fs';
import { URL } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import { createNodeResolver, importX, tseslint } from 'conversa-lint';

// The floors, lowest first. A file may import its own folder or a lower floor, never a higher one and never a
// sibling on its own floor. Inside src/mail/ the sub-folders are floors of their own, in the order listed.
// src/app/ is the composition root and src/cli.ts sits on top of it.
const FLOORS = [
  ['src/core'],
  ['src/storage', 'src/net'],
  // audit: one insert per security-relevant action, from any floor above.
  ['src/audit'],
  // contacts is the base of its floor: users normalise addresses with it, jobs listen to its events.
  ['src/contacts'],
  // live: the feed of changes a signed-in page listens to (a table every process writes and reads).
  ['src/access', 'src/users', 'src/jobs', 'src/live'],
  // templates: merge fields; tracking: pixels, link redirects and their verdicts (used by sending).
  ['src/messages', 'src/templates', 'src/tracking'],
  ['src/mail/providers'],
  ['src/mail/rules'],
  ['src/mail/mime'],
  ['src/mail/imap'],
  ['src/mail/oauth2'],
  ['src/mail/connection'],
  ['src/mail/accounts'],
  ['src/mail/intake'],
  ['src/mail/bounces'],
  ['src/mail/sync'],
  ['src/mail/send'],
  ['src/mail/dropbox'],
  // sequences (issue 17): sends through src/mail/send, reads bookings' tables directly (not src/calendar).
  ['src/sequences'],
  ['src/calendar'],
  // ops (issue 19): what /metrics reads (the whole system's health) and backup/restore (run by the CLI against
  // storage and the blob files); just below the HTTP layer.
  ['src/ops'],
  ['src/http'],
  ['src/app'],
  ['src/cli.ts'],
];

// Arrows that point up today and wait for a move; each is one file, named, so no other file can lean on it.
// `from` is the folder the import reaches into, `except` the files there that `target` may still use.
const KNOWN_EXCEPTIONS = [];

// A folder on no floor would escape every rule: refuse to lint until it is placed.
const placed = new Set(FLOORS.flat());
for (const parent of ['src', 'src/mail']) {
  for (const entry of readdirSync(new URL(`./${parent}/`, import.meta.url), { withFileTypes: true })) {
    const path = `${parent}/${entry.name}`;
    if (entry.isDirectory() && path !== 'src/mail' && !placed.has(path)) {
      throw new Error(`eslint.config.js: ${path} is on no floor; add it to FLOORS`);
    }
  }
}

function floorZones() {
  const zones = [];
  FLOORS.forEach((floor, level) => {
    for (const target of floor) {
      const above = [...floor.filter((sibling) => sibling !== target), ...FLOORS.slice(level + 1).flat()];
      for (const from of above) {
        const known = KNOWN_EXCEPTIONS.find((e) => e.target === target && e.from === from);
        zones.push({
          target: `./${target}`,
          from: `./${from}`,
          ...(known ? { except: known.except } : {}),
          message: `${target} is below ${from}: import only the same folder or a lower floor (README, Layout).`,
        });
      }
    }
  });
  return zones;
}

export default defineConfig(
  {
    ignores: ['dist/', 'data/', 'test-artifacts/', '.tmp/', '**/node_modules/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx,js}'],
    plugins: { 'import-x': importX },
    settings: {
      // The import rules read the imported files too (for cycles): with the TypeScript parser.
      'import-x/extensions': ['.ts', '.tsx', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      // NodeNext imports name the emitted `.js`; the file on disk is `.ts` or `.tsx`.
      'import-x/resolver-next': [
        createNodeResolver({
          extensions: ['.ts', '.tsx', '.js', '.json'],
          extensionAlias: { '.js': ['.ts', '.tsx', '.js'] },
        }),
      ],
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // A closure that reads a variable assigned later (the server's logger before the server exists) needs `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Off: this code matches control characters on purpose (NUL cleaning, CR/LF in headers); every hit was one.
      'no-control-regex': 'off',
      // Off: it flags defensive initial values and `done = true; break` loops; none of its 12 hits was a bug.
      'no-useless-assignment': 'off',
    },
  },
  {
    // Kysely's own advice: a migration types its database as `any`, so it never depends on today's schema.
    // Tests and benchmarks poke at payloads and fakes where `any` is the honest type.
    files: ['src/storage/migrations/**', 'test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Circles matter in what ships; tests and benchmarks may import anything. Type-only imports are left out:
    // a circle of types costs nothing at run time.
    files: ['src/**/*.ts', 'web/**/*.{ts,tsx}'],
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            ...floorZones(),
            { target: './src', from: './web', message: 'The server never imports the web app.' },
          ],
        },
      ],
    },
  },
  {
    files: ['web/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      // The two rules of hooks. The React Compiler's rules (purity, refs, set-state-in-effect…) are left off: the
      // app does not use the compiler, and they cost two thirds of the whole lint's time.
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './web',
              from: './src',
              except: ['./http/api-types.ts'],
              message: 'web/ takes from the server only the types of src/http/api-types.ts.',
            },
          ],
        },
      ],
    },
  },
);
