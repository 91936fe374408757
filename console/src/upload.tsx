import { useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import type { Api, Artifact } from './api.ts';
import { artifactIdFor, artifactTypeFor, contentTypeOf, formatBytes } from './format.ts';

interface Row { id: number; name: string; size: number; sent: number; state: 'sending' | 'done' | 'failed'; message?: string }

let nextRow = 1;

/**
 * Drag-and-drop (or the "Upload" file input) of several files at once: each is its own POST with
 * its own progress bar, and each shows what the service answered (its key, or its error message).
 */
export function Upload(props: { api: Api; boardId: string | undefined; onStored: (artifact: Artifact) => void }) {
  const [rows, setRows] = useState<Row[]>([]);
  const [over, setOver] = useState(false);
  const update = (id: number, change: Partial<Row>) => setRows((all) => all.map((r) => (r.id === id ? { ...r, ...change } : r)));

  const send = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      const row: Row = { id: nextRow++, name: file.name, size: file.size, sent: 0, state: 'sending' };
      setRows((all) => [row, ...all].slice(0, 50));
      const contentType = contentTypeOf(file);
      const upload = props.api.upload(file, {
        contentType, artifactType: artifactTypeFor(contentType), artifactId: artifactIdFor(file.name),
        ...(props.boardId ? { boardId: props.boardId } : {}),
      }, (sent) => update(row.id, { sent }));
      upload.done.then((artifact) => {
        update(row.id, { state: 'done', sent: file.size, message: artifact.storageKey });
        props.onStored(artifact);
      }, (error: unknown) => {
        update(row.id, { state: 'failed', message: error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error) });
      });
    }
  };

  return (
    <div class={over ? 'dropzone over' : 'dropzone'}
      onDragOver={(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => { e.preventDefault(); setOver(false); send(e.dataTransfer?.files ?? null); }}>
      <label for="upload-input">Upload</label>
      <input id="upload-input" type="file" multiple onChange={(e) => { const input = e.target as HTMLInputElement; send(input.files); input.value = ''; }} />
      <span class="hint">or drop files here{props.boardId ? ` (into board ${props.boardId})` : ''}</span>
      {rows.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {rows.map((r) => (
            <li key={r.id} class={r.state} data-file={r.name}>
              <span class="name">{r.name}</span>
              <progress max={r.size || 1} value={r.sent} aria-label={`Upload progress of ${r.name}`} />
              <span class="state">{r.state === 'sending' ? `${formatBytes(r.sent)} of ${formatBytes(r.size)}` : r.state === 'done' ? `stored as ${r.message}` : r.message}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
