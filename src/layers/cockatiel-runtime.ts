import type * as CockatielModule from 'cockatiel';

/**
 * cockatiel (about 30 modules, some 4 MB of a process) loads with the first call through a retry
 * or circuit-breaker layer, not with the package: most stores configure neither, and `import
 * 'boards-storage'` stays light. One promise, so concurrent first calls share one load.
 */
let loading: Promise<typeof CockatielModule> | undefined;

export function loadCockatiel(): Promise<typeof CockatielModule> {
  return loading ??= import('cockatiel');
}
