import { useEffect, useState } from 'preact/hooks';
import type { Api, Artifact } from './api.ts';
import { formatBytes, kindOf } from './format.ts';
import { usePaged, useSentinel } from './paged.ts';
import { placeholderUrl, signThumbs } from './thumbs.ts';
import type { ToastApi } from './toasts.tsx';
import { Upload } from './upload.tsx';
import { downloadArchive } from './boards.tsx';

const TYPES = ['image', 'video', 'audio', 'text', 'model', 'lora', 'checkpoint'];
const ICONS: Record<string, string> = { video: '▶', audio: '♪', json: '{ }', markdown: 'M↓', text: '¶', model: '⬢', image: '▣' };

/** GET /v1/artifacts as a grid of thumbnails, a page at a time as it scrolls, filtered by type. */
export function Artifacts(props: {
  api: Api; boardId: string | undefined; generation: number; toasts: ToastApi;
  onOpen: (key: string) => void; onClearBoard: () => void; onChanged: () => void;
}) {
  const { api, boardId } = props;
  const [artifactType, setArtifactType] = useState('');
  const list = usePaged<Artifact>((cursor) => api.listArtifacts({
    ...(boardId ? { boardId } : {}), ...(artifactType ? { artifactType } : {}), ...(cursor ? { cursor } : {}),
  }), `${api.tenant ?? ''}|${boardId ?? ''}|${artifactType}|${props.generation}`);
  const [thumbs, setThumbs] = useState(new Map<string, string>());
  const sentinel = useSentinel(list.more);

  useEffect(() => {
    const missing = list.items.filter((a) => !thumbs.has(a.storageKey));
    if (missing.length === 0) return;
    void signThumbs(api, missing).then((urls) => setThumbs((prev) => new Map([...prev, ...urls])));
  }, [list.items]);

  return (
    <section aria-labelledby="artifacts-title">
      <div class="toolbar">
        <h2 id="artifacts-title">{boardId ? `Board ${boardId}` : 'Artifacts'}</h2>
        {boardId && <button type="button" onClick={props.onClearBoard}>All artifacts</button>}
        {boardId && <button type="button" onClick={() => void downloadArchive(api, boardId, props.toasts)}>Download zip</button>}
        <label for="type-filter">Type</label>
        <select id="type-filter" value={artifactType} onChange={(e) => setArtifactType((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
        </select>
      </div>
      <Upload api={api} boardId={boardId} onStored={props.onChanged} />
      {list.error && <p role="alert" class="error">{list.error}</p>}
      {!list.loading && !list.error && list.items.length === 0 && <p>Nothing here yet.</p>}
      <ul class="grid" aria-label="Artifacts">
        {list.items.map((artifact) => <ArtifactCard key={artifact.storageKey} artifact={artifact} thumb={thumbs.get(artifact.storageKey)} onOpen={props.onOpen} />)}
      </ul>
      <div ref={sentinel} />
      {list.loading && <p class="loading">Loading…</p>}
      {!list.done && !list.loading && list.items.length > 0 && <button type="button" onClick={list.more}>Load more</button>}
    </section>
  );
}

function ArtifactCard(props: { artifact: Artifact; thumb: string | undefined; onOpen: (key: string) => void }) {
  const { artifact, thumb } = props;
  const [broken, setBroken] = useState(false);
  const placeholder = placeholderUrl(artifact);
  const kind = kindOf(artifact.contentType);
  return (
    <li class="card" data-key={artifact.storageKey}>
      <button type="button" class="open" onClick={() => props.onOpen(artifact.storageKey)} aria-label={`Open ${artifact.artifactId} (${artifact.artifactType})`}>
        {thumb && !broken
          ? <img src={thumb} alt={artifact.artifactId} loading="lazy" style={placeholder ? { backgroundImage: `url(${placeholder})` } : undefined} onError={() => setBroken(true)} />
          : placeholder
            ? <img src={placeholder} alt={artifact.artifactId} />
            : <span class="no-thumb" role="img" aria-label={artifact.artifactId}>{ICONS[kind] ?? '■'}</span>}
      </button>
      <div class="caption">
        <strong title={artifact.storageKey}>{artifact.artifactId}</strong>
        <span>{artifact.artifactType} · {formatBytes(artifact.size)}{artifact.visibility === 'public' ? ' · public' : ''}</span>
      </div>
    </li>
  );
}
