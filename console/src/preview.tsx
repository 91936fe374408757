import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import type { Api, Artifact, LineageLink } from './api.ts';
import { formatBytes, formatDate, formatDuration, kindOf } from './format.ts';
import type { ToastApi } from './toasts.tsx';

const TEXT_LIMIT = 1024 * 1024;
const EXPIRIES: [number, string][] = [[900, '15 minutes'], [3600, '1 hour'], [86_400, '1 day'], [604_800, '7 days']];

/**
 * One artifact: its content (images full size; video and audio from a signed URL, so the browser
 * seeks with Range requests; text and JSON read with a bounded Range; model files as size and
 * SHA-256), its metadata and lineage, and what can be done with it.
 */
export function Preview(props: { api: Api; storageKey: string; toasts: ToastApi; onOpen: (key: string) => void; onClose: () => void; onChanged: () => void }) {
  const { api, storageKey, toasts } = props;
  const [artifact, setArtifact] = useState<Artifact>();
  const [source, setSource] = useState<string>();
  const [error, setError] = useState<string>();
  const close = useRef<HTMLButtonElement>(null);
  const opener = useRef<Element | null>(document.activeElement);

  useEffect(() => {
    setArtifact(undefined);
    setSource(undefined);
    setError(undefined);
    api.info(storageKey).then(async (info) => {
      setArtifact(info);
      const kind = kindOf(info.contentType);
      if (kind === 'image' || kind === 'video' || kind === 'audio') setSource((await api.signedUrls([storageKey], { expiresIn: 3600 }))[0]);
    }).catch((e: Error) => setError(e.message));
  }, [storageKey]);

  // A layout effect: focus moves in the same frame as the dialog appears (a plain effect runs a
  // frame later, when a key pressed at once still went to the thumbnail), and goes back to the
  // opener as the dialog goes.
  useLayoutEffect(() => {
    close.current?.focus();
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') props.onClose(); };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      (opener.current as HTMLElement | null)?.focus?.();
    };
  }, []);

  return (
    <div class="backdrop" onClick={(e) => { if (e.target === e.currentTarget) props.onClose(); }}>
      <div role="dialog" aria-modal="true" aria-labelledby="preview-title" class="preview">
        <div class="preview-head">
          <h2 id="preview-title">{artifact?.artifactId ?? storageKey}</h2>
          <button type="button" ref={close} onClick={props.onClose} aria-label="Close preview">×</button>
        </div>
        {error && <p role="alert" class="error">{error}</p>}
        {artifact && (
          <div class="preview-body">
            <div class="content"><Content api={api} artifact={artifact} source={source} /></div>
            <aside>
              <Actions api={api} artifact={artifact} toasts={toasts} onUpdated={setArtifact} onDeleted={() => { props.onChanged(); props.onClose(); }} onChanged={props.onChanged} />
              <Details artifact={artifact} onOpen={props.onOpen} />
            </aside>
          </div>
        )}
      </div>
    </div>
  );
}

function Content(props: { api: Api; artifact: Artifact; source: string | undefined }) {
  const { artifact, source } = props;
  const kind = kindOf(artifact.contentType);
  const [text, setText] = useState<{ text: string; truncated: boolean }>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (kind !== 'json' && kind !== 'markdown' && kind !== 'text') return;
    props.api.readText(artifact.storageKey, TEXT_LIMIT).then(setText, (e: Error) => setError(e.message));
  }, [artifact.storageKey]);

  if (error) return <p role="alert" class="error">{error}</p>;
  if (kind === 'image') return source ? <img class="full" src={source} alt={`${artifact.artifactId}, full size`} /> : <p class="loading">Loading…</p>;
  if (kind === 'video') return source ? <video class="full" src={source} controls preload="metadata" aria-label={`Video ${artifact.artifactId}`} /> : null;
  if (kind === 'audio') return source ? <audio src={source} controls preload="metadata" aria-label={`Audio ${artifact.artifactId}`} /> : null;
  if (kind === 'model') {
    return (
      <div class="model" aria-label={`Model file ${artifact.artifactId}`}>
        <p>A {artifact.artifactType} file of <strong>{formatBytes(artifact.size)}</strong> ({artifact.size} bytes).</p>
        <p>SHA-256 <code class="sha">{artifact.sha256}</code></p>
      </div>
    );
  }
  if (!text) return <p class="loading">Loading…</p>;
  let shown = text.text;
  if (kind === 'json' && !text.truncated) {
    try { shown = JSON.stringify(JSON.parse(text.text), null, 2); } catch { /* not valid JSON: shown as stored */ }
  }
  return (
    <div>
      <pre class={`text ${kind}`} tabIndex={0} aria-label={`Content of ${artifact.artifactId}`}>{shown}</pre>
      {text.truncated && <p class="hint">The first {formatBytes(TEXT_LIMIT)} of {formatBytes(artifact.size)}.</p>}
    </div>
  );
}

function Actions(props: { api: Api; artifact: Artifact; toasts: ToastApi; onUpdated: (a: Artifact) => void; onDeleted: () => void; onChanged: () => void }) {
  const { api, artifact, toasts } = props;
  const [expiresIn, setExpiresIn] = useState(3600);
  const [link, setLink] = useState('');
  const [busy, setBusy] = useState(false);
  const failed = (what: string) => (error: unknown) => toasts.show(`${what} failed: ${error instanceof ApiError ? error.message : String(error)}`, { error: true });

  const copyLink = async () => {
    try {
      const [url] = await api.signedUrls([artifact.storageKey], { expiresIn });
      setLink(url!);
      await navigator.clipboard.writeText(url!).then(() => toasts.show('Link copied'), () => toasts.show('Link ready below (the clipboard is not available here)'));
    } catch (error) { failed('Signing the link')(error); }
  };
  const toggle = async () => {
    setBusy(true);
    try {
      const updated = await api.setVisibility(artifact.storageKey, artifact.visibility === 'public' ? 'private' : 'public');
      props.onUpdated({ ...artifact, ...updated });
      toasts.show(`${artifact.artifactId} is now ${updated.visibility}`);
      props.onChanged();
    } catch (error) { failed('Changing visibility')(error); } finally { setBusy(false); }
  };
  const remove = async () => {
    setBusy(true);
    try {
      await api.remove(artifact.storageKey);
      props.onDeleted();
      toasts.show(`Deleted ${artifact.artifactId}`, {
        action: {
          label: 'Undo',
          run: () => void api.restore(artifact.storageKey).then(() => { toasts.show(`Restored ${artifact.artifactId}`); props.onChanged(); }, failed('Undo')),
        },
      });
    } catch (error) { failed('Delete')(error); setBusy(false); }
  };
  const download = async () => {
    try {
      const [url] = await api.signedUrls([artifact.storageKey], { expiresIn: 300, filename: artifact.storageKey.split('/').slice(-2).join('_') });
      location.assign(url!);
    } catch (error) { failed('Download')(error); }
  };

  return (
    <div class="actions">
      <div class="row">
        <label for="expiry">Link expiry</label>
        <select id="expiry" value={expiresIn} onChange={(e) => setExpiresIn(Number((e.target as HTMLSelectElement).value))}>
          {EXPIRIES.map(([s, label]) => <option key={s} value={s}>{label}</option>)}
        </select>
        <button type="button" onClick={() => void copyLink()}>Copy link</button>
      </div>
      {link && <input class="link" readOnly value={link} aria-label="Signed link" onFocus={(e) => (e.target as HTMLInputElement).select()} />}
      <div class="row">
        <button type="button" disabled={busy} onClick={() => void toggle()}>{artifact.visibility === 'public' ? 'Make private' : 'Make public'}</button>
        <button type="button" onClick={() => void download()}>Download</button>
        <button type="button" class="danger" disabled={busy} onClick={() => void remove()}>Delete</button>
      </div>
    </div>
  );
}

function lineageKey(link: string | LineageLink): LineageLink {
  return typeof link === 'string' ? { storageKey: link } : link;
}

function Details(props: { artifact: Artifact; onOpen: (key: string) => void }) {
  const { artifact } = props;
  const metadata = artifact.metadata ?? {};
  const { prompt, seed, ...rest } = metadata as { prompt?: unknown; seed?: unknown } & Record<string, unknown>;
  const media = artifact.media ?? {};
  const facts = [
    media.width && media.height ? `${media.width}×${media.height}` : '',
    media.format ?? '', media.codec ?? '', media.animated ? 'animated' : '',
    media.durationMs !== undefined ? formatDuration(media.durationMs) : '',
    media.sampleRate ? `${media.sampleRate} Hz` : '', media.channels ? `${media.channels} ch` : '',
  ].filter(Boolean).join(', ');
  const lineage = (title: string, links: (string | LineageLink)[] | undefined, more = false) => (
    <>
      <dt>{title}</dt>
      <dd>
        {links && links.length > 0 ? (
          <ul class="links">
            {links.map(lineageKey).map((l) => (
              <li key={l.storageKey}>
                {l.deleted
                  ? <span class="deleted">{l.artifactId ?? l.storageKey} (deleted)</span>
                  : <a href={`#artifact=${encodeURIComponent(l.storageKey)}`} onClick={(e) => { e.preventDefault(); props.onOpen(l.storageKey); }}>{l.artifactId ?? l.storageKey}</a>}
              </li>
            ))}
          </ul>
        ) : 'none'}
        {more && <p class="hint">and more (GET /v1/artifacts?input=…)</p>}
      </dd>
    </>
  );
  return (
    <dl class="details" aria-label="Metadata">
      {prompt !== undefined && <><dt>Prompt</dt><dd>{String(prompt)}</dd></>}
      {seed !== undefined && <><dt>Seed</dt><dd>{String(seed)}</dd></>}
      {Object.entries(rest).map(([k, v]) => <><dt key={`k-${k}`}>{k}</dt><dd key={`v-${k}`}>{typeof v === 'string' ? v : JSON.stringify(v)}</dd></>)}
      <dt>Type</dt><dd>{artifact.artifactType} ({artifact.contentType})</dd>
      <dt>Size</dt><dd>{formatBytes(artifact.size)} ({artifact.size} bytes)</dd>
      <dt>SHA-256</dt><dd><code class="sha">{artifact.sha256}</code></dd>
      {facts && <><dt>Media</dt><dd>{facts}</dd></>}
      <dt>Provider</dt><dd>{artifact.storageProvider}</dd>
      <dt>Created</dt><dd><time dateTime={artifact.createdAt}>{formatDate(artifact.createdAt)}</time></dd>
      <dt>Visibility</dt><dd>{artifact.visibility}</dd>
      {artifact.boardId && <><dt>Board</dt><dd>{artifact.boardId}</dd></>}
      <dt>Key</dt><dd><code>{artifact.storageKey}</code></dd>
      {lineage('Inputs', artifact.inputs)}
      {lineage('Outputs', artifact.outputs, artifact.outputsTruncated)}
    </dl>
  );
}
