import { useState } from 'preact/hooks';
import { Api, ApiError } from './api.ts';

export interface Session { api: Api; isService: boolean }

/**
 * Checks a token against the service: GET /v1/tenants answers service tokens only (403 for
 * others), and GET /v1/stats proves a tenant token. A bad token is the service's 401 message.
 */
export async function signIn(token: string): Promise<Session> {
  const api = new Api(token);
  try {
    await api.tenants();
    return { api, isService: true };
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 403 && error.status !== 404)) throw error;
  }
  await api.stats();
  return { api, isService: false };
}

export function SignIn(props: { onSignedIn: (session: Session) => void; error?: string }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(props.error ?? '');

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onSignedIn(await signIn(token.trim()));
    } catch (failure) {
      setError(failure instanceof ApiError ? `${failure.status === 401 ? 'Not signed in' : 'Failed'} (${failure.status} ${failure.code}): ${failure.message}` : String(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>Boards Storage</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="off" spellcheck={false} value={token} required
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy || token.trim() === ''}>Sign in</button>
        <p class="hint">A bearer token (JWT). The token stays in this page's memory only: reloading signs you out.</p>
        {error && <p role="alert" class="error">{error}</p>}
      </form>
    </main>
  );
}
