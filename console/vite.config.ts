import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The console is served by `boards-storage serve` under /console/ from dist/console (see
// src/server/routes/console.ts). Everything is bundled: no CDN, it works offline.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
