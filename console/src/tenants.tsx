import { useEffect, useState } from 'preact/hooks';
import type { Api, Tenant } from './api.ts';
import { formatBytes } from './format.ts';

/** Service tokens only: the tenants that have artifacts; choosing one acts for it (X-Tenant-Id). */
export function Tenants(props: { api: Api; current: string | undefined; onChoose: (tenant: string) => void }) {
  const [tenants, setTenants] = useState<Tenant[]>();
  const [error, setError] = useState<string>();
  const [typed, setTyped] = useState('');
  useEffect(() => {
    props.api.tenants().then((page) => setTenants(page.items), (e: Error) => setError(e.message));
  }, []);
  return (
    <section aria-labelledby="tenants-title">
      <h2 id="tenants-title">Tenants</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {tenants && tenants.length === 0 && <p>No tenant has artifacts yet.</p>}
      <ul class="list">
        {tenants?.map((t) => (
          <li key={t.tenantId}>
            <button type="button" aria-pressed={props.current === t.tenantId} onClick={() => props.onChoose(t.tenantId)}>{t.tenantId}</button>
            <span>{t.artifacts} artifacts, {formatBytes(t.bytes)}</span>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); if (typed.trim()) props.onChoose(typed.trim()); }}>
        <label for="tenant-id">Act for tenant</label>
        <input id="tenant-id" value={typed} pattern="[A-Za-z0-9._-]{1,128}" onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
        <button type="submit">Open</button>
      </form>
    </section>
  );
}
