// Builds the web app (web/) into dist/web, which the API server serves (src/http/build-server.ts).
// No React plugin: the build needs only JSX, which Vite's own transform does (automatic runtime).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const API_ORIGIN = 'http://127.0.0.1:3000';

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // The server's CSP allows no inline script; the polyfill would be one more thing to audit.
    modulePreload: { polyfill: false },
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    // `npx vite --config web/vite.config.ts` during development: the API runs on `npm start` (port 3000). The
    // API refuses cookie changes whose Origin is not its PUBLIC_URL (CSRF); a request from this dev server's own
    // pages is presented as the API's own origin, and any other Origin is passed on untouched (and refused).
    proxy: {
      '/api': {
        target: API_ORIGIN,
        configure: (proxy) =>
          proxy.on('proxyReq', (proxied, incoming) => {
            const origin = incoming.headers.origin;
            if (origin && origin === `http://${incoming.headers.host ?? ''}`) proxied.setHeader('origin', API_ORIGIN);
          }),
      },
    },
  },
});
