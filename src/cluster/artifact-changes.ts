import type { Client } from 'pg';
import { ARTIFACT_CHANGES_CHANNEL } from '../catalog/migrations.ts';
import { backoffDelay } from '../layers/backoff.ts';

/** What a node does with the catalog's announcements. */
export interface ArtifactChangeHandlers {
  /** An artifact was deleted, or its visibility or provider changed: drop what is cached of it. */
  changed(storageKey: string): void;
  /** Announcements may be missed from now on (the connection is lost): drop everything and cache nothing. */
  deaf(): void;
  /** Listening (again): whatever was missed meanwhile is gone from the caches, so caching may resume. */
  listening(): void;
}

export interface ArtifactChangeOptions {
  /** How often the listening connection is checked (a connection that died silently delivers nothing). */
  pingIntervalMs: number;
  onError?: (error: unknown) => void;
}

/** The listening connection's application_name: operators find it in pg_stat_activity. */
export const LISTENER_NAME = 'boards-storage-changes';
const PING_TIMEOUT_MS = 5_000;
const RECONNECT_MAX_MS = 30_000;

/**
 * LISTEN on the catalog's PostgreSQL for the artifact changes its trigger announces (see migration
 * 0015_nodes), on a connection of its own. The trigger fires in the committing transaction of any
 * writer (another node, the CLI, a script), so no writer has to remember to publish. A lost
 * connection makes the node deaf until it is back: the handlers are told, so that nothing cached
 * while announcements could be missed outlives the outage.
 */
export class ArtifactChangeListener {
  private readonly databaseUrl: string;
  private readonly handlers: ArtifactChangeHandlers;
  private readonly options: ArtifactChangeOptions;
  /** The connection announcements arrive on, once it listens. */
  private client: Client | undefined;
  /** The newest connection made, listening or not yet: events of older ones are ignored. */
  private current: Client | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private connecting: Promise<void> | undefined;

  constructor(databaseUrl: string, handlers: ArtifactChangeHandlers, options: ArtifactChangeOptions) {
    this.databaseUrl = databaseUrl;
    this.handlers = handlers;
    this.options = options;
  }

  /** Whether announcements reach this node now. */
  get isListening(): boolean {
    return this.client !== undefined;
  }

  /** Connect and LISTEN; the first attempt is awaited, later ones happen in the background. */
  async start(): Promise<void> {
    this.handlers.deaf();
    this.pingTimer = setInterval(() => { void this.ping(); }, this.options.pingIntervalMs);
    this.pingTimer.unref();
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.connectOnce().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  private async connectOnce(): Promise<void> {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, connectionTimeoutMillis: 10_000, application_name: LISTENER_NAME });
    this.current = client;
    client.on('notification', (message) => {
      if (message.channel === ARTIFACT_CHANGES_CHANNEL && message.payload) this.handlers.changed(message.payload);
    });
    // Errors after connecting arrive as events; both mean the connection is gone.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${ARTIFACT_CHANGES_CHANNEL}`);
    } catch (error) {
      this.lost(client, error);
      await client.end().catch(() => undefined);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    this.handlers.listening();
  }

  private async ping(): Promise<void> {
    const client = this.client;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`the listening connection did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS); }),
      ]);
    } catch (error) {
      this.lost(client, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The connection `client` is gone (or never came): deaf now, and a new connection after a backoff. */
  private lost(client: Client, error?: unknown): void {
    if (this.closed || client !== this.current) return;
    this.current = undefined;
    const wasListening = this.client === client;
    this.client = undefined;
    if (wasListening) {
      this.handlers.deaf();
      client.end().catch(() => undefined);
    }
    if (error) this.options.onError?.(error);
    if (this.retryTimer) return;
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) void this.connect();
    }, backoffDelay(this.failures, { baseMs: 500, maxMs: RECONNECT_MAX_MS, jitter: true }));
    this.retryTimer.unref();
  }
}
