import { useCallback, useMemo, useState } from 'preact/hooks';

// Short messages at the foot of the page (announced to screen readers), some with an action (Undo).

export interface Toast { id: number; text: string; error?: boolean; action?: { label: string; run: () => void } }

export interface ToastApi {
  list: Toast[];
  show(text: string, options?: { error?: boolean; action?: Toast['action']; ms?: number }): void;
  dismiss(id: number): void;
}

let nextId = 1;

export function useToasts(): ToastApi {
  const [list, setList] = useState<Toast[]>([]);
  const dismiss = useCallback((id: number) => setList((l) => l.filter((t) => t.id !== id)), []);
  const show = useCallback((text: string, options: { error?: boolean; action?: Toast['action']; ms?: number } = {}) => {
    const toast: Toast = { id: nextId++, text, ...(options.error ? { error: true } : {}), ...(options.action ? { action: options.action } : {}) };
    setList((l) => [...l.slice(-3), toast]);
    setTimeout(() => dismiss(toast.id), options.ms ?? (options.action ? 15_000 : 6_000));
  }, [dismiss]);
  return useMemo(() => ({ list, show, dismiss }), [list, show, dismiss]);
}

export function Toasts(props: { toasts: ToastApi }) {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {props.toasts.list.map((t) => (
        <div key={t.id} class={t.error ? 'toast error' : 'toast'}>
          <span>{t.text}</span>
          {t.action && <button type="button" onClick={() => { props.toasts.dismiss(t.id); t.action!.run(); }}>{t.action.label}</button>}
          <button type="button" aria-label="Dismiss" onClick={() => props.toasts.dismiss(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
