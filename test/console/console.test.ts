import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, rawRequest } from '../server/server-harness.ts';
import type { TestServer } from '../server/server-harness.ts';
import { ffmpegAvailable, pngImage } from '../media/media-files.ts';
import { tempDir } from '../helpers.ts';
import { NO_CHROMIUM, launchBrowser, newPage, screenshotDir } from './browser.ts';

/**
 * The console at /console in a real headless Chromium, against a real service (local disk,
 * SQLite) over loopback: sign-in, browse, upload, preview of each media type, signed links,
 * visibility, delete and undo. Outcomes are checked through the API (bytes by SHA-256, status).
 */

// What the functions given to page.evaluate use: they run in the browser (this project's types are Node's).
type Img = { alt: string; complete: boolean; naturalWidth: number };
type Media = { duration: number; currentTime: number; readyState: number; error: { code: number } | null; addEventListener(type: string, listener: () => void, options?: object): void };
declare const document: {
  querySelectorAll(selector: string): ArrayLike<Img & { classList: { contains(c: string): boolean } }>;
  querySelector(selector: string): (Img & Media & { classList: { contains(c: string): boolean } }) | null;
  activeElement: { getAttribute(name: string): string | null } | null;
  cookie: string;
};
declare const localStorage: { length: number };
declare const sessionStorage: { length: number };
declare const navigator: { clipboard: { readText(): Promise<string> } };
declare class DataTransfer { items: { add(file: File): void } }

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

// Started at the top of the file so that their `after` hooks close them when the file ends.
const browser = (NO_CHROMIUM ? undefined : await launchBrowser()) as Browser;
const server: TestServer = await startTestServer();
const token = await server.token({ tenant: 'studio' });
const shots = await screenshotDir();

describe('the console', { skip: NO_CHROMIUM }, () => {
  /** A page signed in through the startup banner's link: the token in the fragment. */
  async function signedIn(tokenToUse = token): Promise<{ page: Page; pageErrors: string[] }> {
    const { page, pageErrors } = await newPage(browser, server.url);
    await page.goto(`/console/#token=${tokenToUse}`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    return { page, pageErrors };
  }

  async function api(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  }

  it('serves the app: index.html revalidated, hashed assets immutable, nothing outside the build', async () => {
    const redirect = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/console/');
    const index = await fetch(`${server.url}/console/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="\/console\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), html);
    for (const asset of assets) {
      const response = await fetch(`${server.url}/console/${asset}`);
      assert.equal(response.status, 200, asset);
      assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    }
    // No CDN: every script and style comes from this origin.
    assert.doesNotMatch(html, /https?:\/\//);
    for (const path of ['/console/missing.js', '/console/..%2f..%2fpackage.json', '/console/%2e%2e/%2e%2e/package.json', '/console/assets/..%2f..%2f..%2fpackage.json']) {
      const response = await rawRequest(server.url, 'GET', path);
      assert.equal(response.status, 404, path);
      assert.doesNotMatch(response.body.toString(), /boards-storage/);
    }
  });

  it('refuses a bad token with the service\'s 401, and keeps a good one only in memory', async () => {
    const { page, pageErrors } = await newPage(browser, server.url);
    await page.goto('/console/');
    await page.getByLabel('Token').fill('not-a-token');
    const answer = page.waitForResponse((r) => r.url().includes('/v1/'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await answer).status(), 401);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /401/);
    await page.screenshot({ path: join(shots, 'sign-in-refused.png') });

    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
    assert.deepEqual(stored, { local: 0, session: 0, cookie: '' });
    assert.deepEqual(await page.context().cookies(), []);
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });

  it('signs in from the banner\'s #token= link and takes the token out of the address bar', async () => {
    const { page } = await signedIn();
    assert.equal(new URL(page.url()).hash, '');
    await page.context().close();
  });

  it('browses artifacts with thumbnails (alt text = the artifact id), filters by type, and loads more as it scrolls', async () => {
    const png = await pngImage(640, 400);
    await server.storage.storeArtifact({ artifactId: 'sunset', artifactType: 'image', contentType: 'image/png', content: png, tenantId: 'studio', boardId: 'trip' });
    for (let i = 0; i < 55; i++) {
      await server.storage.storeArtifact({ artifactId: `note-${String(i).padStart(2, '0')}`, artifactType: 'text', contentType: 'text/plain', content: Buffer.from(`note ${i}`), tenantId: 'studio', boardId: 'notes' });
    }
    // Another tenant's artifact never shows.
    await server.storage.storeArtifact({ artifactId: 'secret', artifactType: 'image', contentType: 'image/png', content: png, tenantId: 'other' });
    const { page, pageErrors } = await signedIn();
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    const sunset = page.getByRole('img', { name: 'sunset', exact: true });
    await sunset.waitFor();
    await page.waitForFunction(() => Array.from(document.querySelectorAll('img')).some((i) => i.alt === 'sunset' && i.complete && i.naturalWidth > 0));
    // The thumbnail is a 256 px transform, not the 640 px original.
    assert.equal(await sunset.evaluate((img: Img) => img.naturalWidth), 256);
    assert.equal(await page.getByRole('img', { name: 'secret' }).count(), 0);

    const cards = page.locator('ul[aria-label="Artifacts"] > li');
    await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Artifacts"] > li').length >= 48);
    const first = await cards.count();
    assert.ok(first < 56, `one page at first, got ${first}`);
    await page.locator('ul[aria-label="Artifacts"] > li').last().scrollIntoViewIfNeeded();
    await page.mouse.wheel(0, 20_000);
    await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Artifacts"] > li').length === 56);

    await page.getByLabel('Type').selectOption('image');
    await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Artifacts"] > li').length === 1);
    assert.equal(await cards.first().getAttribute('data-key').then((k) => k?.startsWith('studio/image/trip/sunset_')), true);
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });

  it('uploads several files at once (input and drag-and-drop) with progress; the bytes land; refusals show the service\'s message', async () => {
    const { page, pageErrors } = await signedIn();
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    const files = [
      { name: 'portrait.png', mimeType: 'image/png', buffer: await pngImage(300, 200) },
      { name: 'weights v2.safetensors', mimeType: '', buffer: big },
      { name: 'tool.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ not allowed') },
    ];
    await page.getByLabel('Upload', { exact: true }).setInputFiles(files);
    const rows = page.locator('ul[aria-label="Uploads"] > li');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('ul[aria-label="Uploads"] > li')).every((li) => !li.classList.contains('sending')));
    const byName = async (name: string) => rows.filter({ has: page.locator(`.name:text-is("${name}")`) }).first();
    for (const file of files.slice(0, 2)) {
      const row = await byName(file.name);
      assert.equal(await row.getAttribute('class'), 'done', await row.innerText());
      const key = /stored as (\S+)/.exec(await row.innerText())![1]!;
      const info = await (await api(`/v1/info/${key}`)).json() as { sha256: string; size: number };
      assert.equal(info.sha256, sha256(file.buffer));
      const bytes = Buffer.from(await (await api(`/v1/artifacts/${key}`)).arrayBuffer());
      assert.equal(sha256(bytes), sha256(file.buffer), file.name);
      assert.equal(await row.locator('progress').evaluate((p: { value: number }) => p.value), file.buffer.length);
    }
    const refused = await byName('tool.exe');
    assert.equal(await refused.getAttribute('class'), 'failed');
    assert.match(await refused.innerText(), /415 CONTENT_TYPE_NOT_ALLOWED: .*application\/x-msdownload/);

    // Drag and drop: a DataTransfer with a file, dropped on the zone.
    const dropped = Buffer.from('# Dropped\n\nA *markdown* note.\n');
    const transfer = await page.evaluateHandle((text) => {
      const data = new DataTransfer();
      data.items.add(new File([text], 'dropped.md', { type: 'text/markdown' }));
      return data;
    }, dropped.toString());
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: transfer });
    const droppedRow = await byName('dropped.md');
    await page.waitForFunction(() => document.querySelector('ul[aria-label="Uploads"] > li')?.classList.contains('done'));
    const droppedKey = /stored as (\S+)/.exec(await droppedRow.innerText())![1]!;
    assert.match(droppedKey, /^studio\/text\/dropped_/);
    assert.equal(sha256(Buffer.from(await (await api(`/v1/artifacts/${droppedKey}`)).arrayBuffer())), sha256(dropped));
    await page.screenshot({ path: join(shots, 'uploads.png') });
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });

  it('previews each media type: image full size, video and audio that seek, text, pretty JSON, Markdown, model size and SHA-256', async (t) => {
    const dir = await tempDir('console-media');
    const hasFfmpeg = await ffmpegAvailable();
    const store = (artifactId: string, artifactType: string, contentType: string, content: Uint8Array, metadata?: Record<string, unknown>) =>
      server.storage.storeArtifact({ artifactId, artifactType, contentType, content, tenantId: 'studio', boardId: 'media', ...(metadata ? { metadata } : {}) });
    const image = await store('poster', 'image', 'image/png', await pngImage(900, 500), { prompt: 'a red fox in the snow', seed: 1234, sampler: 'euler' });
    const json = await store('settings', 'text', 'application/json', Buffer.from('{"steps":30,"cfg":{"scale":7.5}}'));
    const text = await store('caption', 'text', 'text/plain', Buffer.from('a plain caption'));
    const markdown = await store('readme', 'text', 'text/markdown', Buffer.from('# Notes\n\n- *one*\n'));
    const model = await store('lora-fox', 'lora', 'application/octet-stream', Buffer.alloc(70_000, 7));
    const { page, pageErrors } = await signedIn();
    const open = async (key: string) => {
      await page.evaluate('window.scrollTo(0, 0)');
      const card = page.locator(`li[data-key="${key}"] button.open`);
      await card.click();
      await page.getByRole('dialog').waitFor();
    };
    const closePreview = async () => {
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
    };
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    await page.getByLabel('Type').selectOption('');

    await open(image.storageKey);
    const full = page.getByRole('dialog').getByRole('img', { name: 'poster, full size' });
    await page.waitForFunction(() => { const i = document.querySelector('.preview img.full'); return !!i && i.complete && i.naturalWidth > 0; });
    assert.equal(await full.evaluate((i: Img) => i.naturalWidth), 900);
    const details = page.getByRole('dialog').locator('dl.details');
    const detailText = await details.innerText();
    for (const shown of ['a red fox in the snow', '1234', 'sampler', 'euler', image.sha256, '900×500', 'local', String(image.size)]) assert.ok(detailText.includes(shown), `${shown} in ${detailText}`);
    await page.screenshot({ path: join(shots, 'preview-image.png') });
    await closePreview();

    await page.getByLabel('Type').selectOption('text');
    await page.locator(`li[data-key="${json.storageKey}"]`).waitFor();
    await open(json.storageKey);
    assert.equal(await page.getByRole('dialog').locator('pre.json').innerText(), JSON.stringify({ steps: 30, cfg: { scale: 7.5 } }, null, 2));
    await closePreview();
    await open(text.storageKey);
    assert.equal(await page.getByRole('dialog').locator('pre.text').innerText(), 'a plain caption');
    await closePreview();
    await open(markdown.storageKey);
    assert.equal(await page.getByRole('dialog').locator('pre.markdown').innerText().then((t) => t.trimEnd()), '# Notes\n\n- *one*');
    await closePreview();

    await page.getByLabel('Type').selectOption('lora');
    await page.locator(`li[data-key="${model.storageKey}"]`).waitFor();
    await open(model.storageKey);
    const modelText = await page.getByRole('dialog').locator('.model').innerText();
    assert.ok(modelText.includes(model.sha256) && modelText.includes('70000 bytes'), modelText);
    await closePreview();

    if (!hasFfmpeg) {
      t.diagnostic('video and audio previews SKIPPED: ffmpeg is not on PATH (CI installs it)');
    } else {
      const { execFile } = await import('node:child_process');
      const run = (args: string[]) => new Promise<void>((resolve, reject) => execFile('ffmpeg', ['-v', 'error', '-y', ...args], (e) => (e ? reject(e) : resolve())));
      await run(['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10:duration=6', '-c:v', 'libvpx', '-b:v', '400k', join(dir, 'clip.webm')]);
      await run(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=22050:duration=6', join(dir, 'tone.wav')]);
      const { readFile } = await import('node:fs/promises');
      const video = await store('clip', 'video', 'video/webm', await readFile(join(dir, 'clip.webm')));
      const audio = await store('tone', 'audio', 'audio/wav', await readFile(join(dir, 'tone.wav')));
      for (const [artifact, type, selector] of [[video, 'video', 'video'], [audio, 'audio', 'audio']] as const) {
        await page.getByLabel('Type').selectOption(type);
        await page.locator(`li[data-key="${artifact.storageKey}"]`).waitFor();
        const ranges: number[] = [];
        page.on('response', (r) => { if (r.url().includes('/v1/signed/') && r.request().headers().range) ranges.push(r.status()); });
        await open(artifact.storageKey);
        const element = page.getByRole('dialog').locator(selector);
        await element.waitFor();
        await page.waitForFunction((s) => (document.querySelector(`.preview ${s}`)?.readyState ?? 0) >= 1, selector);
        const duration = await element.evaluate((m: Media) => m.duration);
        assert.ok(Math.abs(duration - 6) < 0.5, `duration ${duration}`);
        // Seek near the end: the browser asks for a range of the signed URL.
        const seeked = await element.evaluate((m: Media) => new Promise<number>((resolve, reject) => {
          m.addEventListener('seeked', () => resolve(m.currentTime), { once: true });
          m.addEventListener('error', () => reject(new Error(`media error ${m.error?.code}`)), { once: true });
          m.currentTime = 5;
        }));
        assert.ok(Math.abs(seeked - 5) < 0.6, `seeked to ${seeked}`);
        assert.ok(ranges.includes(206), `Range answers: ${ranges.join(',')}`);
        await closePreview();
      }
    }
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });

  it('copies a signed link that opens without a token, toggles visibility, deletes with undo', async () => {
    const bytes = await pngImage(120, 80);
    const ref = await server.storage.storeArtifact({ artifactId: 'share-me', artifactType: 'image', contentType: 'image/png', content: bytes, tenantId: 'studio', boardId: 'share' });
    const { page, pageErrors } = await signedIn();
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    await page.locator(`li[data-key="${ref.storageKey}"] button.open`).click();
    const dialog = page.getByRole('dialog');

    await dialog.getByLabel('Link expiry').selectOption('900');
    await dialog.getByRole('button', { name: 'Copy link' }).click();
    const link = await dialog.getByLabel('Signed link').inputValue();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
    const opened = await fetch(link);
    assert.equal(opened.status, 200);
    assert.equal(sha256(Buffer.from(await opened.arrayBuffer())), ref.sha256);
    const expires = Number(new URL(link).searchParams.get('exp') ?? new URL(link).searchParams.get('expires') ?? NaN);
    if (Number.isFinite(expires)) assert.ok(Math.abs(expires - (Date.now() / 1000 + 900)) < 120, `expires ${expires}`);
    // The link opens in a browser tab with no token too.
    const tab = await browser.newPage();
    assert.equal((await tab.goto(link))?.status(), 200);
    await tab.close();

    await dialog.getByRole('button', { name: 'Make public' }).click();
    await dialog.getByRole('button', { name: 'Make private' }).waitFor();
    assert.equal(((await (await api(`/v1/info/${ref.storageKey}`)).json()) as { visibility: string }).visibility, 'public');
    await dialog.getByRole('button', { name: 'Make private' }).click();
    await dialog.getByRole('button', { name: 'Make public' }).waitFor();
    assert.equal(((await (await api(`/v1/info/${ref.storageKey}`)).json()) as { visibility: string }).visibility, 'private');

    await dialog.getByRole('button', { name: 'Delete' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await api(`/v1/info/${ref.storageKey}`)).status, 404);
    await page.locator(`li[data-key="${ref.storageKey}"]`).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Undo' }).click();
    await page.locator(`li[data-key="${ref.storageKey}"]`).waitFor();
    const restored = await api(`/v1/artifacts/${ref.storageKey}`);
    assert.equal(restored.status, 200);
    assert.equal(sha256(Buffer.from(await restored.arrayBuffer())), ref.sha256);
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });

  it('shows stats per type and provider and the providers\' health', async () => {
    const { page, pageErrors } = await signedIn();
    await page.getByRole('button', { name: 'Stats' }).click();
    const byType = page.getByRole('table', { name: 'By artifact type' });
    await byType.waitFor();
    const stats = await (await api('/v1/stats')).json() as { byArtifactType: { artifactType: string; count: number }[] };
    for (const row of stats.byArtifactType) {
      assert.match(await byType.getByRole('row').filter({ hasText: row.artifactType }).first().innerText(), new RegExp(`${row.artifactType}\\s+${row.count}\\b`));
    }
    await page.getByRole('table', { name: 'By provider' }).getByRole('cell', { name: 'local' }).waitFor();
    const health = page.getByRole('table', { name: 'Provider health' });
    await health.waitFor();
    assert.match(await health.getByRole('row').filter({ hasText: 'local' }).innerText(), /local\s+ok/);
    await page.screenshot({ path: join(shots, 'stats.png') });
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });

  it('lists tenants for a service token only, and acts for the one chosen', async () => {
    const service = await server.token({ role: 'service', sub: 'operator' });
    const { page, pageErrors } = await signedIn(service);
    const studio = page.getByRole('button', { name: 'studio', exact: true });
    await studio.waitFor();
    assert.equal(await page.getByRole('button', { name: 'other', exact: true }).count(), 1);
    await studio.click();
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    await page.getByRole('img', { name: 'sunset', exact: true }).waitFor();
    assert.equal(await page.getByRole('img', { name: 'secret' }).count(), 0);
    assert.deepEqual(pageErrors, []);
    await page.context().close();

    // A tenant's token gets no tenant list.
    const tenants = await api('/v1/tenants');
    assert.equal(tenants.status, 403);
    const user = await signedIn();
    assert.equal(await user.page.getByRole('button', { name: 'Tenants' }).count(), 0);
    await user.page.context().close();
  });

  it('works from the keyboard: a focused thumbnail Enter opens the preview, Escape closes it', async () => {
    const { page } = await signedIn();
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    const target = page.locator('ul[aria-label="Artifacts"] > li button.open').first();
    await target.waitFor();
    await target.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    // Focus is on the close button as soon as the dialog is there (it moves in the same frame).
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Close preview');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.match(await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? ''), /^Open /);
    await page.screenshot({ path: join(shots, 'console.png') });
    await page.context().close();
  });
});
