#!/usr/bin/env node
// Runs the TypeScript sources directly on Node 24 (type stripping); a published package, where
// Node will not strip types under node_modules, runs the compiled copy in dist/.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
try {
  ({ main } = await import(import.meta.url.includes('/node_modules/') && existsSync(compiled) ? compiled.href : source.href));
} catch (error) {
  // The Node version check runs while the modules load (src/sqlite/node-sqlite.ts): one line, no stack.
  if (error?.code === 'NOT_SUPPORTED') {
    process.stderr.write(`boards-storage: NOT_SUPPORTED: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
await main(process.argv);
