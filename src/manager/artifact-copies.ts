import type { Catalog, CatalogArtifact } from '../catalog/catalog.ts';
import { failoverProvider } from '../layers/failover.ts';
import type { FailoverProvider, Replica } from '../layers/failover.ts';
import type { StorageProvider } from '../providers/provider.ts';

export interface CopiesLookup {
  catalog: Catalog;
  provider(name: string): StorageProvider;
  providerNames(): string[];
}

/**
 * Every stored copy of one artifact as one provider: the provider it lives on first, then (only
 * once that one fails over: down, or missing the object) the provider the catalog records, if the
 * caller named another, and each finished mirror copy. `exact` means the named provider alone.
 */
export function artifactCopies(lookup: CopiesLookup, storageKey: string, where: { provider: string; artifact?: CatalogArtifact }, options: { exact?: boolean } = {}): FailoverProvider {
  return failoverProvider({
    primary: { name: where.provider, provider: lookup.provider(where.provider) },
    others: options.exact ? () => [] : async () => {
      const recorded = where.artifact ?? (await lookup.catalog.get(storageKey));
      const copies = (await lookup.catalog.copiesOf(storageKey)).filter((c) => c.status === 'done').map((c) => c.provider);
      const known = new Set(lookup.providerNames());
      const names = [...new Set([...(recorded ? [recorded.storageProvider] : []), ...copies])].filter((name) => known.has(name));
      return names.map((name): Replica => ({ name, provider: lookup.provider(name) }));
    },
  });
}
