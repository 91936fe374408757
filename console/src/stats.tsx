import { useEffect, useState } from 'preact/hooks';
import type { Api, Readiness, Stats as StatsFigures } from './api.ts';
import { formatBytes } from './format.ts';

/** GET /v1/stats (the tenant's usage by type and provider) and GET /readyz (the providers' health). */
export function Stats(props: { api: Api }) {
  const [stats, setStats] = useState<StatsFigures>();
  const [health, setHealth] = useState<Readiness>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    props.api.stats().then(setStats, (e: Error) => setError(e.message));
    props.api.readiness().then(setHealth, (e: Error) => setError(e.message));
  }, [props.api.tenant]);
  return (
    <section aria-labelledby="stats-title">
      <h2 id="stats-title">Stats{stats ? ` of ${stats.tenantId}` : ''}</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {stats && (
        <div class="tables">
          <p>{stats.total.count} artifacts, {formatBytes(stats.total.bytes)}{stats.trash ? `; in the trash: ${stats.trash.count} (${formatBytes(stats.trash.bytes)})` : ''}</p>
          <table aria-label="By artifact type">
            <thead><tr><th scope="col">Type</th><th scope="col">Artifacts</th><th scope="col">Bytes</th></tr></thead>
            <tbody>{stats.byArtifactType.map((r) => <tr key={r.artifactType}><td>{r.artifactType}</td><td>{r.count}</td><td>{formatBytes(r.bytes)}</td></tr>)}</tbody>
          </table>
          <table aria-label="By provider">
            <thead><tr><th scope="col">Provider</th><th scope="col">Artifacts</th><th scope="col">Bytes</th></tr></thead>
            <tbody>{stats.byProvider.map((r) => <tr key={r.provider}><td>{r.provider}</td><td>{r.count}</td><td>{formatBytes(r.bytes)}</td></tr>)}</tbody>
          </table>
        </div>
      )}
      {health && (
        <table aria-label="Provider health">
          <thead><tr><th scope="col">Component</th><th scope="col">State</th><th scope="col">Answered in</th></tr></thead>
          <tbody>
            <tr><td>catalog</td><td>{health.catalog.ok ? 'ok' : `down (${health.catalog.error})`}</td><td>{Math.round(health.catalog.ms)} ms</td></tr>
            {Object.entries(health.providers).map(([name, check]) => (
              <tr key={name}><td>{name}</td><td>{check.ok ? 'ok' : `down (${check.error})`}{check.breaker ? `, breaker ${check.breaker}` : ''}</td><td>{Math.round(check.ms)} ms</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
