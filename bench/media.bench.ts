/**
 * Media, three figures in one run:
 * 1. A 256 px WebP thumbnail of a 2048x2048 PNG made through the manager (read the original,
 *    check it, resize, encode, store beside it, record) against bare sharp doing the same resize
 *    from the same file: target >= 0.85 of its thumbnails/s. The sides alternate in blocks.
 * 2. A cached variant served over HTTP (`?variant=thumb_256`) against the same bytes stored as a
 *    plain artifact (`GET /v1/artifacts/{key}`), by wrk: target >= 0.9 of its requests/s.
 * 3. Peak RSS while 16 transforms of 4096x4096 PNGs run at once through the manager (bounded by
 *    transforms.max_concurrent): target < 1024 MB.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createStorageManager } from '../src/manager/create.ts';
import { createServer } from '../src/server/app.ts';
import { mintToken } from '../src/server/auth.ts';
import { resolveServerConfig } from '../src/server/server-config.ts';
import { freePort } from '../src/server/start.ts';
import { median, reportLimit, reportRatio, timed, withPeakRss } from './report.ts';

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
          for (let i = 0; i < BLOCK; i++) await sharp(pngFile).resize({ width: 256 }).webp().toBuffer();
        });
      };
      if ((round + block) % 2 === 0) { await managerSide(); await sharpSide(); } else { await sharpSide(); await managerSide(); }
    }
    managerRates.push((2 * BLOCK) / managerSeconds);
    sharpRates.push((2 * BLOCK) / sharpSeconds);
  }
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

  // 3. Memory with 16 concurrent 4096x4096 transforms.
  const big = await generatedPng(4096);
  const bigStorage = await createStorageManager({ config: { data_dir: join(root, 'state-big'), providers: { local: { type: 'local', config: { base_path: join(root, 'files-big') } } } }, env: {} });
  const originals: { storageKey: string }[] = [];
  for (let i = 0; i < 16; i++) originals.push(await bigStorage.storeArtifact({ artifactId: `big${i}`, artifactType: 'image', contentType: 'image/png', content: big }));
  global.gc?.();
  const before = process.memoryUsage().rss / 1e6;
  const { peakMb } = await withPeakRss(() => Promise.all(originals.map((o) => bigStorage.createVariant(o.storageKey, { name: 'preview_1024', width: 1024, format: 'webp' }))));
  console.log(`16 concurrent transforms of ${(big.length / 1e6).toFixed(1)} MB 4096x4096 PNGs: RSS ${before.toFixed(0)} MB before, peak ${peakMb.toFixed(0)} MB (transforms.max_concurrent ${bigStorage.mediaConfig.transforms.max_concurrent})`);
  reportLimit('peak RSS, 16 concurrent 4096x4096 transforms', peakMb, 'MB', 1024);
  await bigStorage.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
