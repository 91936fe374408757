/**
 * Media, three figures in one run:
 * 1. A 256 px WebP thumbnail of a 2048x2048 PNG made through the manager (read the original,
 *    check it, resize, encode, store beside it, record) against bare sharp doing the same resize
 *    from the same file, with the same input options and sharp settings (concurrency, cache):
 *    target >= 0.85 of its thumbnails/s. The sides alternate in blocks; medians of the rounds.
 * 2. A cached variant served over HTTP (`?variant=thumb_256`) against the same bytes stored as a
 *    plain artifact (`GET /v1/artifacts/{key}`), by wrk: target >= 0.9 of its requests/s.
 * 3. Peak RSS while 16 requests for transforms of 4096x4096 PNGs arrive at once, each
 *    configuration in a fresh process (bench/media-memory-probe.ts): one transform alone gives the
 *    working set W; the bound is base + min(max_concurrent, libuv pool) x W, asserted for
 *    max_concurrent 4 and 16 with glibc's mmap threshold fixed, and printed with its default.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createStorageManager } from '../src/manager/create.ts';
import { createServer } from '../src/server/app.ts';
import { mintToken } from '../src/server/auth.ts';
import { resolveServerConfig } from '../src/server/server-config.ts';
import { freePort } from '../src/server/start.ts';
import { transformInputOptions } from '../src/media/image-render.ts';
import { imageLimits } from '../src/media/variants.ts';
import { loadSharp } from '../src/media/sharp-loader.ts';
import { median, reportLimit, reportRatio, timed } from './report.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BLOCK = Number(process.env.BENCH_MEDIA_BLOCK ?? 8);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 5);

/** A generated-looking image: smooth colour fields with grain, as a diffusion model's output is. */
async function generatedPng(size: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><defs><radialGradient id="g"><stop offset="0" stop-color="#f0c060"/><stop offset="0.6" stop-color="#c04080"/><stop offset="1" stop-color="#203060"/></radialGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  const base = await sharp(Buffer.from(svg)).png().toBuffer();
  const grain = await sharp({ create: { width: size, height: size, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 0, sigma: 6 } } }).png().toBuffer();
  return sharp(base).composite([{ input: grain, blend: 'add' }]).png().toBuffer();
}

const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-media-'));
try {
  // 1. Thumbnails through the manager against bare sharp.
  const png = await generatedPng(2048);
  const pngFile = join(root, 'source.png');
  await writeFile(pngFile, png);
  const storage = await createStorageManager({ config: { data_dir: join(root, 'state'), providers: { local: { type: 'local', config: { base_path: join(root, 'files') } } } }, env: {} });
  const original = await storage.storeArtifact({ artifactId: 'image', artifactType: 'image', contentType: 'image/png', content: png });
  // The manager's sharp settings (one libvips thread per image, no operation cache) are the
  // module's, so they hold for both sides from the first round; the input options are the manager's.
  const settings = await loadSharp();
  const inputOptions = transformInputOptions(imageLimits(storage.mediaConfig));
  console.log(`sharp ${settings.versions.sharp} (libvips ${settings.versions.vips}): concurrency ${settings.concurrency()}, cache ${JSON.stringify(settings.cache().items)}, input ${JSON.stringify(inputOptions)}; ${(png.length / 1e6).toFixed(1)} MB PNG`);
  let made = 0;
  const managerRates: number[] = [];
  const sharpRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let managerSeconds = 0;
    let sharpSeconds = 0;
    for (let block = 0; block < 2; block++) {
      const managerSide = async () => {
        managerSeconds += await timed(async () => {
          for (let i = 0; i < BLOCK; i++) await storage.createVariant(original.storageKey, { name: `thumb_${made++}`, width: 256, format: 'webp' });
        });
      };
      const sharpSide = async () => {
        sharpSeconds += await timed(async () => {
          for (let i = 0; i < BLOCK; i++) await sharp(pngFile, inputOptions).rotate().resize({ width: 256, fit: 'inside', withoutEnlargement: true }).webp().toBuffer();
        });
      };
      if ((round + block) % 2 === 0) { await managerSide(); await sharpSide(); } else { await sharpSide(); await managerSide(); }
    }
    managerRates.push((2 * BLOCK) / managerSeconds);
    sharpRates.push((2 * BLOCK) / sharpSeconds);
  }
  console.log(`thumbnails/s per round: manager ${managerRates.map((r) => r.toFixed(2)).join(' ')}, bare sharp ${sharpRates.map((r) => r.toFixed(2)).join(' ')}`);
  reportRatio('256 px WebP thumbnail of a 2048x2048 PNG, manager vs bare sharp', median(managerRates), median(sharpRates), 'thumbnails/s', 0.85);

  // 2. A cached variant served like any artifact of its size.
  const thumb = await storage.createVariant(original.storageKey, { name: 'thumb_256', width: 256, format: 'webp' });
  const plain = await storage.storeArtifact({ artifactId: 'plain', artifactType: 'image', contentType: 'image/webp', content: await storage.download(thumb.storageKey) });
  const port = await freePort('127.0.0.1');
  const serverConfig = resolveServerConfig(storage.config, {});
  serverConfig.port = port;
  const { app, jwt } = await createServer({ storage, config: serverConfig, logger: false, processMetrics: false });
  await app.listen({ host: '127.0.0.1', port });
  try {
    const token = await mintToken(jwt.secret!, { subject: 'bench', tenantId: 'default', expiresIn: 3600 });
    // wrk runs beside this process's server (the event loop must stay free to answer it).
    const wrk = async (path: string): Promise<number> => {
      const out = await promisify(execFile)('wrk', ['-t1', '-c16', `-d${WRK_SECONDS}s`, '-H', `Authorization: Bearer ${token}`, `http://127.0.0.1:${port}${path}`], { encoding: 'utf8' });
      if (/Non-2xx/.test(out.stdout)) throw new Error(`wrk saw errors on ${path}:\n${out.stdout}`);
      const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)?.[1]);
      if (!(rate > 0)) throw new Error(`wrk measured nothing on ${path}:\n${out.stdout}`);
      return rate;
    };
    // Both paths warmed up first (compiled, cached), so the rounds compare steady states.
    await wrk(`/v1/artifacts/${original.storageKey}?variant=thumb_256`);
    await wrk(`/v1/artifacts/${plain.storageKey}`);
    const variantRates: number[] = [];
    const plainRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) { variantRates.push(await wrk(`/v1/artifacts/${original.storageKey}?variant=thumb_256`)); plainRates.push(await wrk(`/v1/artifacts/${plain.storageKey}`)); }
      else { plainRates.push(await wrk(`/v1/artifacts/${plain.storageKey}`)); variantRates.push(await wrk(`/v1/artifacts/${original.storageKey}?variant=thumb_256`)); }
    }
    console.log(`requests/s per round: variant ${variantRates.map((r) => r.toFixed(0)).join(" ")}, artifact ${plainRates.map((r) => r.toFixed(0)).join(" ")}`);
    reportRatio(`cached ${thumb.size}-byte variant over HTTP vs the same bytes as an artifact`, median(variantRates), median(plainRates), 'requests/s', 0.9);
  } finally {
    await app.close();
    await storage.close();
  }

  // 3. Memory: 16 requests for transforms of 4096x4096 PNGs at once, each probe in a fresh process.
  const bigFile = join(root, 'big.png');
  await writeFile(bigFile, await generatedPng(4096));
  const probe = async (count: number, maxConcurrent: number, env: Record<string, string>): Promise<{ beforeMb: number; peakMb: number; seconds: number }> => {
    const out = await promisify(execFile)(process.execPath, ['--expose-gc', fileURLToPath(new URL('media-memory-probe.ts', import.meta.url))], {
      encoding: 'utf8', env: { ...process.env, ...env, PROBE_FILE: bigFile, PROBE_COUNT: String(count), PROBE_MAX_CONCURRENT: String(maxConcurrent), BENCH_DIR: root },
    });
    return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { beforeMb: number; peakMb: number; seconds: number };
  };
  // sharp runs on libuv's pool: no more transforms than its threads decode at once, whatever max_concurrent says.
  const pool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  // glibc raises its mmap threshold as large blocks are freed, after which freed pixel buffers stay
  // in each thread's arena: fixed at its default (128 KiB), they go back to the system when freed.
  const allocators: [string, Record<string, string>][] = [['mmap threshold fixed (MALLOC_MMAP_THRESHOLD_=131072)', { MALLOC_MMAP_THRESHOLD_: '131072' }], ['glibc defaults', {}]];
  for (const [allocator, env] of allocators) {
    const one = await probe(1, 4, env);
    const working = one.peakMb - one.beforeMb;
    console.log(`${allocator}: one transform alone: RSS ${one.beforeMb.toFixed(0)} MB before, peak ${one.peakMb.toFixed(0)} MB: working set W = ${working.toFixed(0)} MB`);
    for (const maxConcurrent of [4, 16]) {
      const run = await probe(16, maxConcurrent, env);
      const bound = run.beforeMb + Math.min(maxConcurrent, pool) * working;
      console.log(`${allocator}: 16 requests at once, max_concurrent ${maxConcurrent}: RSS ${run.beforeMb.toFixed(0)} MB before, peak ${run.peakMb.toFixed(0)} MB (+${(run.peakMb - run.beforeMb).toFixed(0)} MB = ${((run.peakMb - run.beforeMb) / working).toFixed(1)} W) in ${run.seconds.toFixed(1)} s; bound base + min(${maxConcurrent}, pool ${pool}) x W = ${bound.toFixed(0)} MB`);
      // 10% over the bound allows for W's own noise; the default allocator is held to the 1024 MB.
      if (env.MALLOC_MMAP_THRESHOLD_) reportLimit(`peak RSS, 16 concurrent 4096x4096 transforms, max_concurrent ${maxConcurrent}, ${allocator}`, run.peakMb, 'MB', Math.round(run.beforeMb + 1.1 * Math.min(maxConcurrent, pool) * working));
      else reportLimit(`peak RSS, 16 concurrent 4096x4096 transforms, max_concurrent ${maxConcurrent}, ${allocator}`, run.peakMb, 'MB', 1024);
    }
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
