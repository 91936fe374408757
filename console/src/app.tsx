import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import type { Api } from './api.ts';
import { Artifacts } from './artifacts.tsx';
import { Boards } from './boards.tsx';
import { Preview } from './preview.tsx';
import { SignIn, signIn } from './sign-in.tsx';
import type { Session } from './sign-in.tsx';
import { Stats } from './stats.tsx';
import { Tenants } from './tenants.tsx';
import { Toasts, useToasts } from './toasts.tsx';

type View = 'boards' | 'artifacts' | 'stats' | 'tenants';

/** `#token=...` from the startup banner: read once, then removed from the address bar and history. */
function tokenFromFragment(): string | undefined {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token') ?? undefined;
  if (token) history.replaceState(null, '', location.pathname + location.search);
  return token;
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [fragmentError, setFragmentError] = useState<string>();
  const [checking, setChecking] = useState(() => /(^#|&)token=/.test(location.hash));

  useEffect(() => {
    const token = tokenFromFragment();
    if (!token) return;
    signIn(token).then(setSession, (error: unknown) => {
      setFragmentError(error instanceof ApiError ? `The link's token was refused (${error.status}): ${error.message}` : String(error));
    }).finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="loading">Signing in…</p>;
  if (!session) return <SignIn onSignedIn={setSession} {...(fragmentError ? { error: fragmentError } : {})} />;
  return <Shell session={session} onSignOut={() => setSession(null)} />;
}

function Shell(props: { session: Session; onSignOut: () => void }) {
  const { isService } = props.session;
  const [tenant, setTenant] = useState<string>();
  const api: Api = props.session.api.forTenant(tenant);
  const [view, setView] = useState<View>(isService ? 'tenants' : 'boards');
  const [boardId, setBoardId] = useState<string>();
  const [selected, setSelected] = useState<string>();
  // Bumped when something changed the listing (upload, delete, undo).
  const [generation, setGeneration] = useState(0);
  const toasts = useToasts();
  const needsTenant = isService && !tenant;

  const nav = (target: View, label: string) => (
    <button type="button" class={view === target ? 'tab active' : 'tab'} aria-current={view === target ? 'page' : undefined}
      disabled={target !== 'tenants' && needsTenant} onClick={() => { setView(target); setSelected(undefined); }}>{label}</button>
  );

  return (
    <div class="shell">
      <header>
        <strong>Boards Storage</strong>
        <nav aria-label="Sections">
          {isService && nav('tenants', 'Tenants')}
          {nav('boards', 'Boards')}
          {nav('artifacts', 'Artifacts')}
          {nav('stats', 'Stats')}
        </nav>
        <span class="who">{tenant ? `tenant ${tenant}` : isService ? 'service token' : ''}</span>
        <button type="button" onClick={props.onSignOut}>Sign out</button>
      </header>
      <main>
        {view === 'tenants' && <Tenants api={api} current={tenant} onChoose={(t) => { setTenant(t); setBoardId(undefined); setView('boards'); }} />}
        {view === 'boards' && !needsTenant && <Boards api={api} toasts={toasts} generation={generation}
          onOpen={(b) => { setBoardId(b); setView('artifacts'); }} />}
        {view === 'artifacts' && !needsTenant && <Artifacts api={api} boardId={boardId} generation={generation} toasts={toasts}
          onClearBoard={() => setBoardId(undefined)} onOpen={setSelected} onChanged={() => setGeneration((g) => g + 1)} />}
        {view === 'stats' && !needsTenant && <Stats api={api} />}
      </main>
      {selected && <Preview api={api} storageKey={selected} toasts={toasts} onOpen={setSelected}
        onClose={() => setSelected(undefined)} onChanged={() => setGeneration((g) => g + 1)} />}
      <Toasts toasts={toasts} />
    </div>
  );
}
