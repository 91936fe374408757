// Builds the web console (console/ -> dist/console) with esbuild when the build is missing or older
// than any of its sources; `npm start` runs it first, so `npm ci && npm start` serves /console.
// `--force` builds regardless.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const sources = join(root, 'console');
const outDir = join(root, 'dist', 'console');
const built = join(outDir, 'index.html');
/** The URL path dist/console is served under (src/server/routes/console.ts). */
const base = '/console/';

function newestSource(): number {
  let newest = statSync(join(root, 'package-lock.json'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  for (const entry of readdirSync(sources, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

export async function buildConsole(options: { force?: boolean } = {}): Promise<'built' | 'fresh'> {
  if (!options.force && existsSync(built) && statSync(built).mtimeMs >= newestSource()) return 'fresh';
  // console/index.html names the app's entry module; the built page loads the bundle in its place.
  const page = await readFile(join(sources, 'index.html'), 'utf8');
  const entryTag = /^[ \t]*<script type="module" src="([^"]+)"><\/script>\r?\n?/m.exec(page);
  if (!entryTag) throw new Error('console/index.html has no <script type="module" src="..."> entry');
  const head = /^([ \t]*)<\/head>/m;
  if (!head.test(page)) throw new Error('console/index.html has no </head>');

  // Loaded only when a build is needed: esbuild is a devDependency.
  const { build } = await import('esbuild');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const entry = join(sources, entryTag[1]!);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // Every file is named by its content hash, so the server can serve assets/ as immutable.
    outdir: join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    // Images and fonts the app may import become files of their own (never inlined).
    loader: { '.svg': 'file', '.png': 'file', '.ico': 'file', '.woff2': 'file' },
    publicPath: `${base}assets/`,
    absWorkingDir: root,
    metafile: true,
    logLevel: 'warning',
  });

  // The entry's script and the stylesheet esbuild extracted from the CSS it imports.
  const entryPoint = relative(root, entry).split(sep).join('/');
  const output = Object.entries(result.metafile.outputs).find(([, out]) => out.entryPoint === entryPoint);
  if (!output) throw new Error(`esbuild wrote no bundle for ${entryTag[1]}`);
  const url = (file: string) => `${base}assets/${basename(file)}`;
  const tags = [`    <script type="module" src="${url(output[0])}"></script>`];
  if (output[1].cssBundle) tags.push(`    <link rel="stylesheet" href="${url(output[1].cssBundle)}">`);
  const html = page.replace(entryTag[0], '').replace(head, `${tags.join('\n')}\n$1</head>`);
  await writeFile(built, html);
  return 'built';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outcome = await buildConsole({ force: process.argv.includes('--force') });
  if (outcome === 'built') process.stdout.write('console built into dist/console\n');
}
