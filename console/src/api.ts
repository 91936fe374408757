// The service's HTTP API as the console uses it. The token lives only in this object, in memory:
// never in localStorage, sessionStorage or a cookie.

export interface Variant { name: string; storageKey: string; contentType: string; size: number; width?: number; height?: number }

export interface MediaFacts {
  width?: number; height?: number; format?: string; animated?: boolean;
  durationMs?: number; sampleRate?: number; channels?: number; codec?: string;
}

export interface LineageLink { storageKey: string; artifactId?: string; artifactType?: string; deleted?: boolean }

export interface Artifact {
  artifactId: string;
  storageKey: string;
  storageProvider: string;
  storageUrl: string;
  contentType: string;
  size: number;
  sha256: string;
  visibility: 'private' | 'public';
  createdAt: string;
  tenantId: string;
  boardId?: string;
  artifactType: string;
  variant: string;
  metadata?: Record<string, unknown>;
  media?: MediaFacts;
  placeholder?: string;
  variants?: Variant[];
  /** Lineage (GET /v1/info): storage keys, or links with more about them. */
  inputs?: (string | LineageLink)[];
  outputs?: (string | LineageLink)[];
  /** More outputs than GET /v1/info lists. */
  outputsTruncated?: boolean;
}

export interface Page<T> { items: T[]; nextCursor?: string }

/** A board's cover: its newest image. */
export interface Cover {
  storageKey: string; artifactId: string; contentType: string;
  width?: number; height?: number; placeholder?: string; thumbnailKey?: string;
}

export interface Board {
  boardId: string;
  artifacts: number;
  bytes: number;
  lastActivity?: string;
  cover?: Cover;
}

export interface Tenant { tenantId: string; artifacts: number; bytes: number }

export interface CountAndBytes { count: number; bytes: number }

export interface Stats {
  tenantId: string;
  total: CountAndBytes;
  byArtifactType: (CountAndBytes & { artifactType: string })[];
  byProvider: (CountAndBytes & { provider: string })[];
  trash?: CountAndBytes;
}

export interface Readiness {
  ok: boolean;
  catalog: { ok: boolean; ms: number; error?: string };
  providers: Record<string, { ok: boolean; ms: number; error?: string; breaker?: string }>;
}

export type Transform = { width?: number; height?: number; fit?: 'cover' | 'contain' | 'inside'; format?: 'webp' | 'jpeg' | 'png' };

/** An answer of the service that is not a success: its status, code and message, as it sent them. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return new ApiError(response.status, body.error.code ?? 'ERROR', body.error.message);
  } catch { /* not JSON: fall through */ }
  return new ApiError(response.status, 'HTTP_' + response.status, text || response.statusText || `HTTP ${response.status}`);
}

export class Api {
  readonly #token: string;
  /** Service tokens act for the tenant chosen in the console (X-Tenant-Id). */
  readonly tenant: string | undefined;

  constructor(token: string, tenant?: string) {
    this.#token = token;
    this.tenant = tenant;
  }

  forTenant(tenant: string | undefined): Api {
    return new Api(this.#token, tenant);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.#token}`, ...(this.tenant ? { 'x-tenant-id': this.tenant } : {}), ...extra };
  }

  async request(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers = this.headers(init.headers);
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, { method, headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
    if (!response.ok && response.status !== 206) throw await failure(response);
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body === undefined ? {} : { body });
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  listArtifacts(filter: { boardId?: string; artifactType?: string; cursor?: string; limit?: number }): Promise<Page<Artifact>> {
    return this.json('GET', `/v1/artifacts${query({ limit: filter.limit ?? 48, boardId: filter.boardId, artifactType: filter.artifactType, cursor: filter.cursor })}`);
  }

  info(key: string): Promise<Artifact> {
    return this.json('GET', `/v1/info/${encodeKey(key)}`);
  }

  boards(cursor?: string): Promise<Page<Board>> {
    return this.json('GET', `/v1/boards${query({ limit: 48, cursor })}`);
  }

  tenants(): Promise<Page<Tenant>> {
    return this.json('GET', '/v1/tenants');
  }

  stats(): Promise<Stats> {
    return this.json('GET', '/v1/stats');
  }

  async readiness(): Promise<Readiness> {
    // Unauthenticated, and a 503 still carries the report.
    const response = await fetch('/readyz');
    return await response.json() as Readiness;
  }

  /** Signed URLs in the order of `keys` (for <img>/<video> sources and links to share). */
  async signedUrls(keys: string[], options: { expiresIn?: number; variant?: string; transform?: Transform; filename?: string } = {}): Promise<string[]> {
    if (keys.length === 0) return [];
    const answer = await this.json<{ urls: { storageKey: string; url: string }[] }>('POST', '/v1/urls', { keys, expiresIn: options.expiresIn ?? 3600, ...options });
    return answer.urls.map((u) => u.url);
  }

  setVisibility(key: string, visibility: 'public' | 'private'): Promise<Artifact> {
    return this.json('PATCH', `/v1/info/${encodeKey(key)}`, { visibility });
  }

  remove(key: string): Promise<void> {
    return this.json('DELETE', `/v1/artifacts/${encodeKey(key)}`);
  }

  restore(key: string): Promise<Artifact> {
    return this.json('POST', `/v1/trash/${encodeKey(key)}/restore`);
  }

  /** The first `maxBytes` of an artifact, as text (a Range request: a large file is not read whole). */
  async readText(key: string, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
    const response = await this.request('GET', `/v1/artifacts/${encodeKey(key)}`, { headers: { range: `bytes=0-${maxBytes - 1}` } });
    const text = await response.text();
    const total = Number(/\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1] ?? text.length);
    return { text, truncated: response.status === 206 && total > maxBytes };
  }

  /** A board's zip (GET /v1/boards/{id}/archive). */
  async archive(boardId: string): Promise<Response> {
    return this.request('GET', `/v1/boards/${encodeURIComponent(boardId)}/archive`);
  }

  /**
   * Store one file with upload progress (XMLHttpRequest: fetch reports none). The body is the file
   * itself, streamed by the browser; the service's error message comes back as an ApiError.
   */
  upload(file: File, target: { artifactType: string; artifactId: string; contentType: string; boardId?: string }, onProgress: (sent: number, total: number) => void): { done: Promise<Artifact>; abort: () => void } {
    const xhr = new XMLHttpRequest();
    const done = new Promise<Artifact>((resolve, reject) => {
      xhr.open('POST', `/v1/artifacts${query({ artifactType: target.artifactType, artifactId: target.artifactId, boardId: target.boardId })}`);
      for (const [k, v] of Object.entries(this.headers({ 'content-type': target.contentType }))) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        if (xhr.status === 201) return resolve(JSON.parse(xhr.responseText) as Artifact);
        void failure(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })).then(reject);
      };
      xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the connection to the service failed'));
      xhr.onabort = () => reject(new ApiError(0, 'ABORTED', 'upload cancelled'));
      xhr.send(file);
    });
    return { done, abort: () => xhr.abort() };
  }
}
