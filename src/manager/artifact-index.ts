import { NotFoundError } from '../errors.ts';
import { assertSafeId, assertSafePrefix, parseArtifactKey } from '../keys.ts';
import { decodeCursor, encodeCursor, listLimit } from '../providers/list-cursor.ts';
import type { ListedObject, StorageProvider } from '../providers/provider.ts';
import { referenceFromObject } from './artifact-reference.ts';
import type { ArtifactReference } from './artifact-reference.ts';

export interface ListArtifactsQuery {
  /** Defaults to `default`. */
  tenantId?: string;
  boardId?: string;
  artifactType?: string;
  /** A key prefix below the tenant (`image/board1/`). */
  prefix?: string;
  limit?: number;
  cursor?: string;
}

export interface ArtifactPage {
  items: ArtifactReference[];
  nextCursor?: string;
}

/**
 * Where the manager finds artifacts it did not just store: which provider holds a key, and the
 * artifacts of a tenant in key order. This one asks the providers themselves (their object
 * metadata carries the whole reference); a catalog database answers the same questions faster.
 */
export interface ArtifactIndex {
  get(key: string): Promise<ArtifactReference | undefined>;
  list(query: ListArtifactsQuery): Promise<ArtifactPage>;
}

export class ProviderIndex implements ArtifactIndex {
  private readonly providers: () => Map<string, StorageProvider>;
  private readonly defaultProvider: () => string;
  private readonly urlOf: (ref: { provider: string; key: string; visibility: string }) => string;

  constructor(providers: () => Map<string, StorageProvider>, defaultProvider: () => string, urlOf: (ref: { provider: string; key: string; visibility: string }) => string) {
    this.providers = providers;
    this.defaultProvider = defaultProvider;
    this.urlOf = urlOf;
  }

  /** Ask the default provider first, then the others. */
  async get(key: string): Promise<ArtifactReference | undefined> {
    const providers = this.providers();
    const order = [this.defaultProvider(), ...[...providers.keys()].filter((n) => n !== this.defaultProvider())];
    for (const name of order) {
      const provider = providers.get(name);
      if (!provider) continue;
      try {
        const object = await provider.getMetadata(key);
        const ref = referenceFromObject(object, name, '');
        ref.storageUrl = this.urlOf({ provider: name, key, visibility: ref.visibility });
        return ref;
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    return undefined;
  }

  /** Merge every provider's listing in key order; the cursor is the last key returned. */
  async list(query: ListArtifactsQuery): Promise<ArtifactPage> {
    const tenant = assertSafeId('tenantId', query.tenantId ?? 'default');
    const limit = listLimit(query.limit);
    const type = query.artifactType === undefined ? undefined : assertSafeId('artifactType', query.artifactType);
    const board = query.boardId === undefined ? undefined : assertSafeId('boardId', query.boardId);
    let prefix = `${tenant}/`;
    if (type !== undefined) prefix += board !== undefined ? `${type}/${board}/` : `${type}/`;
    if (query.prefix) {
      const wanted = `${tenant}/${assertSafePrefix(query.prefix)}`;
      // Narrow to the longer of the two prefixes; when they disagree the page is empty.
      if (wanted.startsWith(prefix)) prefix = wanted;
      else if (!prefix.startsWith(wanted)) return { items: [] };
    }
    const keep = (key: string) => {
      const parsed = parseArtifactKey(key);
      if (!parsed || parsed.tenantId !== tenant) return false;
      if (type !== undefined && parsed.artifactType !== type) return false;
      return board === undefined || parsed.boardId === board;
    };

    const after = decodeCursor(query.cursor);
    const sources = [...this.providers()].map(([name, provider]) => new ListingSource(name, provider, prefix, after, limit, keep));
    const picked: { name: string; key: string }[] = [];
    let lastKey: string | undefined;
    while (picked.length < limit) {
      await Promise.all(sources.map((s) => s.fill()));
      const next = sources.filter((s) => s.head()).sort((a, b) => (a.head()!.key < b.head()!.key ? -1 : 1))[0];
      if (!next) break;
      const { key } = next.take();
      // The same key on two providers (a mirror) is listed once, from the first.
      for (const s of sources) if (s.head()?.key === key) s.take();
      picked.push({ name: next.name, key });
      lastKey = key;
    }
    await Promise.all(sources.map((s) => s.fill()));
    const more = sources.some((s) => s.head() !== undefined);
    const items = await Promise.all(picked.map(async ({ name, key }) => {
      const object = await this.providers().get(name)!.getMetadata(key).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined; // deleted while listing
        throw error;
      });
      if (!object) return undefined;
      const ref = referenceFromObject(object, name, '');
      ref.storageUrl = this.urlOf({ provider: name, key, visibility: ref.visibility });
      return ref;
    }));
    return { items: items.filter((i) => i !== undefined), ...(more && lastKey ? { nextCursor: encodeCursor(lastKey) } : {}) };
  }
}

/** One provider's listing, read a page at a time and filtered. */
class ListingSource {
  readonly name: string;
  private readonly provider: StorageProvider;
  private readonly prefix: string;
  private readonly limit: number;
  private readonly keep: (key: string) => boolean;
  private buffer: ListedObject[] = [];
  private cursor: string | undefined;
  private done = false;

  constructor(name: string, provider: StorageProvider, prefix: string, after: string, limit: number, keep: (key: string) => boolean) {
    this.name = name;
    this.provider = provider;
    this.prefix = prefix;
    this.limit = limit;
    this.keep = keep;
    this.cursor = after ? encodeCursor(after) : undefined;
  }

  async fill(): Promise<void> {
    while (this.buffer.length === 0 && !this.done) {
      const page = await this.provider.list(this.prefix, { limit: this.limit, ...(this.cursor ? { cursor: this.cursor } : {}) });
      this.buffer = page.items.filter((item) => this.keep(item.key));
      this.cursor = page.nextCursor;
      this.done = page.nextCursor === undefined || page.items.length === 0;
    }
  }

  head(): ListedObject | undefined {
    return this.buffer[0];
  }

  take(): ListedObject {
    return this.buffer.shift()!;
  }
}
