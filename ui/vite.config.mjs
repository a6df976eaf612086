// Builds the web console (ui/) into dist/ui/, served by the API server under /ui/ (src/api/console.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/ui/',
  // Preact's automatic JSX runtime through esbuild: no Babel, no plugin.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Shipped files: no source maps of minified code to carry around.
    sourcemap: false,
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
