import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Page } from './api.ts';

/**
 * Pages over a cursor API: the first page when `key` changes, the next on `more()` (called by
 * the infinite-scroll sentinel or the "Load more" button). A stale answer (the filter changed
 * meanwhile) is dropped.
 */
export function usePaged<T>(load: (cursor?: string) => Promise<Page<T>>, key: string) {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const run = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const fetchPage = useCallback(async (from: string | undefined, reset: boolean) => {
    const mine = ++run.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await loadRef.current(from);
      if (mine !== run.current) return;
      setItems((prev) => (reset ? page.items : [...prev, ...page.items]));
      setCursor(page.nextCursor);
      setDone(!page.nextCursor);
    } catch (failure) {
      if (mine === run.current) setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      if (mine === run.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setItems([]);
    setDone(false);
    void fetchPage(undefined, true);
  }, [key, fetchPage]);

  const more = useCallback(() => {
    if (!loading && !done && cursor) void fetchPage(cursor, false);
  }, [loading, done, cursor, fetchPage]);

  return { items, setItems, loading, error, done, more };
}

/** Calls `onVisible` whenever the returned element scrolls into view (the infinite-scroll sentinel). */
export function useSentinel(onVisible: () => void) {
  const ref = useRef<HTMLDivElement>(null);
  const callback = useRef(onVisible);
  callback.current = onVisible;
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) callback.current();
    }, { rootMargin: '400px' });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return ref;
}
