import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startTestServer } from '../server/server-harness.ts';
import type { TestServer } from '../server/server-harness.ts';
import { pngImage } from '../media/media-files.ts';
import { NO_CHROMIUM, launchBrowser, newPage } from './browser.ts';

/** The console's lineage: GET /v1/info's inputs and outputs as links, in a real headless Chromium. */

const browser = (NO_CHROMIUM ? undefined : await launchBrowser()) as Browser;
const server: TestServer = await startTestServer();
const token = await server.token({ tenant: 'studio' });

async function signedIn(): Promise<{ page: Page; pageErrors: string[] }> {
  const { page, pageErrors } = await newPage(browser, server.url);
  await page.goto(`/console/#token=${token}`);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return { page, pageErrors };
}

describe('the console: lineage', { skip: NO_CHROMIUM }, () => {
  it('shows lineage as links: inputs lead to the input, its outputs lead back, a deleted input is marked', async () => {
    const lora = await server.storage.storeArtifact({ artifactId: 'fox-lora', artifactType: 'lora', contentType: 'application/octet-stream', content: Buffer.alloc(2048, 3), tenantId: 'studio', boardId: 'gen' });
    const made = await server.storage.storeArtifact({ artifactId: 'fox-render', artifactType: 'image', contentType: 'image/png', content: await pngImage(200, 200), tenantId: 'studio', boardId: 'gen', inputs: [lora.storageKey], metadata: { prompt: 'a fox', seed: 7 } });
    const { page, pageErrors } = await signedIn();
    await page.getByRole('button', { name: 'Artifacts', exact: true }).click();
    await page.locator(`li[data-key="${made.storageKey}"] button.open`).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('link', { name: 'fox-lora' }).click();
    await dialog.getByRole('heading', { name: 'fox-lora' }).waitFor();
    await dialog.getByRole('link', { name: 'fox-render' }).click();
    await dialog.getByRole('heading', { name: 'fox-render' }).waitFor();
    await page.keyboard.press('Escape');

    // Deleting the input keeps the output and its link, marked deleted.
    assert.equal((await fetch(`${server.url}/v1/artifacts/${lora.storageKey}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status, 204);
    await page.locator(`li[data-key="${made.storageKey}"] button.open`).click();
    await dialog.locator('.deleted').filter({ hasText: 'fox-lora (deleted)' }).waitFor();
    assert.equal(await dialog.getByRole('link', { name: 'fox-lora' }).count(), 0);
    assert.deepEqual(pageErrors, []);
    await page.context().close();
  });
});
