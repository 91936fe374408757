#!/usr/bin/env node
// Runs the TypeScript sources directly on Node >= 22.12 (type stripping); a published package,
// where Node will not strip types under node_modules, runs the compiled copy in dist/.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(import.meta.url.includes('/node_modules/') && existsSync(compiled) ? compiled.href : source.href);
await main(process.argv);
