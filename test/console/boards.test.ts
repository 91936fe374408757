import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startTestServer } from '../server/server-harness.ts';
import type { TestServer } from '../server/server-harness.ts';
import { pngImage } from '../media/media-files.ts';
import { readZip } from '../boards/zip-reader.ts';
import { tempDir } from '../helpers.ts';
import { NO_CHROMIUM, launchBrowser, newPage, screenshotDir } from './browser.ts';

/** The console's boards (GET /v1/boards: covers, the zip of GET /v1/boards/{id}/archive) in a real headless Chromium. */

type Img = { complete: boolean; naturalWidth: number };
declare const document: { querySelector(selector: string): Img | null };

const browser = (NO_CHROMIUM ? undefined : await launchBrowser()) as Browser;
const server: TestServer = await startTestServer();
const token = await server.token({ tenant: 'studio' });
const shots = await screenshotDir();

async function signedIn(): Promise<{ page: Page; pageErrors: string[] }> {
  const { page, pageErrors } = await newPage(browser, server.url);
  await page.goto(`/console/#token=${token}`);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return { page, pageErrors };
}

describe('the console: boards', { skip: NO_CHROMIUM }, () => {
  it('shows boards with their covers and counts, opens one, and downloads it as a zip whose files match their SHA-256', async () => {
    const store = (artifactId: string, artifactType: string, contentType: string, content: Uint8Array, boardId: string) =>
      server.storage.storeArtifact({ artifactId, artifactType, contentType, content, tenantId: 'studio', boardId });
    const refs = [
      await store('dawn', 'image', 'image/png', await pngImage(400, 300, '#30a0e0'), 'trip'),
      await store('dusk', 'image', 'image/png', await pngImage(400, 300), 'trip'),
      await store('diary', 'text', 'text/plain', Buffer.from('day one'), 'trip'),
    ];
    await store('todo', 'text', 'text/plain', Buffer.from('buy film'), 'notes');
    await server.storage.storeArtifact({ artifactId: 'elsewhere', artifactType: 'image', contentType: 'image/png', content: await pngImage(64, 64), tenantId: 'other', boardId: 'secret-board' });

    const { page, pageErrors } = await signedIn();
    // Boards is where a tenant's token starts.
    const trip = page.locator('li.card').filter({ hasText: 'trip' });
    await trip.waitFor();
    assert.match(await trip.innerText(), /3 artifacts/);
    assert.equal(await page.locator('li.card').filter({ hasText: 'secret-board' }).count(), 0);
    // The cover is the newest image, as a loaded thumbnail.
    const cover = page.getByRole('img', { name: 'Cover of board trip: dusk' });
    await cover.waitFor();
    await page.waitForFunction(() => { const i = document.querySelector('img[alt="Cover of board trip: dusk"]'); return !!i && i.complete && i.naturalWidth > 0; });
    await page.screenshot({ path: join(shots, 'boards.png') });

    const downloading = page.waitForEvent('download');
    await trip.getByRole('button', { name: 'Download zip' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), 'trip.zip');
    const file = join(await tempDir('console-zip'), 'trip.zip');
    await download.saveAs(file);
    const zip = await readZip(file);
    assert.ok(zip.names.includes('manifest.json'), zip.names.join(', '));
    const hashes = [...zip.files.entries()].filter(([name]) => name !== 'manifest.json').map(([, f]) => f.sha256).sort();
    assert.deepEqual(hashes, refs.map((r) => r.sha256).sort());

    await page.getByRole('button', { name: 'Open board trip' }).click();
    await page.getByRole('heading', { name: 'Board trip' }).waitFor();
    await page.waitForFunction(() => document.querySelector('ul[aria-label="Artifacts"] > li:nth-child(3)') !== null);
    assert.deepEqual((await page.locator('ul[aria-label="Artifacts"] > li').evaluateAll((lis) => lis.map((li) => (li as unknown as { dataset: { key: string } }).dataset.key))).sort(), refs.map((r) => r.storageKey).sort());
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });
});
