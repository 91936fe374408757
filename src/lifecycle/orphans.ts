import type { StorageManager } from '../manager/storage-manager.ts';

export interface OrphanReport {
  /** Objects on a provider that the catalog does not know. */
  unrecordedObjects: { provider: string; key: string; size: number }[];
  /** Catalog records whose object is gone from its provider. */
  missingObjects: { provider: string; key: string }[];
  /** With fix: unrecorded objects deleted and records of missing objects removed. */
  fixed: number;
}

const PAGE = 1000;

/**
 * Compare each provider's listing with the catalog, key by key in order (a merge of two sorted
 * streams, so memory stays bounded whatever the size). Pending direct uploads, the trash and copies held by
 * an unfinished migration are not orphans.
 */
export async function findOrphans(storage: StorageManager, options: { fix?: boolean; actor?: string } = {}): Promise<OrphanReport> {
  const report: OrphanReport = { unrecordedObjects: [], missingObjects: [], fixed: 0 };
  for (const name of storage.providerNames()) {
    const provider = storage.provider(name);
    const objects = pages(async (after) => {
      const page = await provider.list('', { limit: PAGE, ...(after ? { cursor: Buffer.from(after).toString('base64url') } : {}) });
      return page.items;
    });
    const recorded = pages(async (after) => (await storage.catalog.keysOnProvider(name, after, PAGE)).map((key) => ({ key, size: 0 })));
    let object = await objects.next();
    let record = await recorded.next();
    while (!object.done || !record.done) {
      if (!record.done && (object.done || record.value.key < object.value.key)) {
        report.missingObjects.push({ provider: name, key: record.value.key });
        record = await recorded.next();
      } else if (!object.done && (record.done || object.value.key < record.value.key)) {
        // A mirror copy is recorded in `copies`, not as the artifact's provider; a migration's copy in its items: not orphans.
        const key = object.value.key;
        const known = (await storage.catalog.getPendingUpload(key)) !== undefined || (await storage.catalog.copiesOf(key)).some((copy) => copy.provider === name) || (await storage.catalog.migrations.holdsObject(name, key));
        if (!known) report.unrecordedObjects.push({ provider: name, key, size: object.value.size });
        object = await objects.next();
      } else {
        object = await objects.next();
        record = await recorded.next();
      }
    }
  }
  if (options.fix) {
    for (const o of report.unrecordedObjects) if (await storage.provider(o.provider).delete(o.key)) report.fixed++;
    for (const m of report.missingObjects) {
      const artifact = await storage.catalog.get(m.key);
      if (artifact && await storage.catalog.remove(m.key, artifact.tenantId, options.actor ?? 'orphan-cleanup')) report.fixed++;
    }
  }
  return report;
}

async function* pages<T extends { key: string }>(fetch: (after: string) => Promise<T[]>): AsyncGenerator<T> {
  let after = '';
  for (;;) {
    const items = await fetch(after);
    yield* items;
    if (items.length < PAGE) return;
    after = items.at(-1)!.key;
  }
}
