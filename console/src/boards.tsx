import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import type { Api, Board } from './api.ts';
import { formatBytes, formatDate } from './format.ts';
import { usePaged, useSentinel } from './paged.ts';
import { placeholderUrl, signThumbs } from './thumbs.ts';
import type { ToastApi } from './toasts.tsx';

/** GET /v1/boards: a grid of the tenant's boards with their cover (the newest image). */
export function Boards(props: { api: Api; toasts: ToastApi; generation: number; onOpen: (boardId: string) => void }) {
  const { api } = props;
  const boards = usePaged<Board>((cursor) => api.boards(cursor), `${api.tenant ?? ''}|${props.generation}`);
  const [covers, setCovers] = useState(new Map<string, string>());
  const sentinel = useSentinel(boards.more);

  useEffect(() => {
    const missing = boards.items.map((b) => b.cover).filter((c) => c !== undefined && !covers.has(c.storageKey));
    if (missing.length === 0) return;
    void signThumbs(api, missing.map((c) => c!)).then((urls) => setCovers((prev) => new Map([...prev, ...urls])));
  }, [boards.items]);

  return (
    <section aria-labelledby="boards-title">
      <h2 id="boards-title">Boards</h2>
      {boards.error && <p role="alert" class="error">{boards.error}</p>}
      {!boards.loading && !boards.error && boards.items.length === 0 && <p>No boards yet: store artifacts with a boardId, or upload into a board from the Artifacts view.</p>}
      <ul class="grid">
        {boards.items.map((board) => {
          const cover = board.cover ? covers.get(board.cover.storageKey) ?? placeholderUrl(board.cover) : undefined;
          return (
            <li key={board.boardId} class="card">
              <button type="button" class="open" onClick={() => props.onOpen(board.boardId)} aria-label={`Open board ${board.boardId}`}>
                {cover ? <img src={cover} alt={`Cover of board ${board.boardId}: ${board.cover!.artifactId}`} loading="lazy" /> : <span class="no-thumb" aria-hidden="true">▦</span>}
              </button>
              <div class="caption">
                <strong>{board.boardId}</strong>
                <span>{board.artifacts} artifacts · {formatBytes(board.bytes)}</span>
                {board.lastActivity && <span>{formatDate(board.lastActivity)}</span>}
                <button type="button" onClick={() => void downloadArchive(api, board.boardId, props.toasts)}>Download zip</button>
              </div>
            </li>
          );
        })}
      </ul>
      <div ref={sentinel} />
      {boards.loading && <p class="loading">Loading…</p>}
      {!boards.done && !boards.loading && boards.items.length > 0 && <button type="button" onClick={boards.more}>Load more</button>}
    </section>
  );
}

/** Save a board's zip (GET /v1/boards/{id}/archive) under `{boardId}.zip`. */
export async function downloadArchive(api: Api, boardId: string, toasts: ToastApi): Promise<void> {
  try {
    toasts.show(`Preparing ${boardId}.zip…`);
    const response = await api.archive(boardId);
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = `${boardId}.zip`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    toasts.show(error instanceof ApiError ? `Zip of ${boardId} failed: ${error.message}` : String(error), { error: true });
  }
}
