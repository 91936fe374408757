import { createServer as createNetServer } from 'node:net';
import { loadConfig } from '../config/load.ts';
import type { StorageConfig } from '../config/load.ts';
import { createStorageManager } from '../manager/create.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { startCleanupTask } from '../lifecycle/cleanup-task.ts';
import { startMirrorTask } from '../lifecycle/mirrors.ts';
import { startVariantTask } from '../media/variant-queue.ts';
import { startScrubTask } from '../operations/scrub-task.ts';
import { createServer } from './app.ts';
import type { BoardsStorageServer, CreateServerOptions } from './app.ts';
import { resolveServerConfig, serverBaseUrl } from './server-config.ts';
import { signsOwnUrls } from '../providers/capabilities.ts';
import { startTusSweep } from './tus/tus-sweep.ts';
import { parseWebhooks } from '../webhooks/webhook-config.ts';
import type { Webhook } from '../webhooks/webhook-config.ts';
import { LeaderLease, whileLeader } from '../cluster/leader-lease.ts';
import type { ServerConfig } from './server-config.ts';
import { startWebhookTask } from '../webhooks/webhook-task.ts';
import { serveHandedConnections, workerReady } from './workers.ts';
import type { WorkerRole } from './workers.ts';

export interface StartServerOptions {
  /** YAML file; default BOARDS_STORAGE_CONFIG, else the embedded default (local disk + SQLite under data_dir). */
  configPath?: string;
  env?: Record<string, string | undefined>;
  /** Override `server.host` / `server.port`; port 0 picks a free port. */
  host?: string;
  port?: number;
  logger?: CreateServerOptions['logger'];
  /** This process is one of `serve --workers N` (workers.ts): serve the connections the primary hands over, lead only as worker 1 on SQLite. */
  worker?: WorkerRole;
}

export interface RunningServer extends BoardsStorageServer {
  storage: StorageManager;
  /** The base URL clients use (and the local providers' signed URLs point at). */
  url: string;
  /**
   * Stop accepting, let in-flight requests finish for at most `server.shutdown_timeout`, then cut
   * what remains and close the manager.
   */
  close(): Promise<void>;
}

/**
 * Load the configuration, point the local/memory providers' signed URLs at this server (unless
 * their `serve_url_base` is configured), open the manager, build the app and listen.
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const storageConfig = loadConfig(options.configPath, { env });
  const config = resolveServerConfig(storageConfig, env);
  if (options.host !== undefined) config.host = options.host;
  if (options.port !== undefined) config.port = options.port;
  if (options.worker?.port !== undefined) config.port = options.worker.port;
  if (config.port === 0) config.port = await freePort(config.host);
  const url = serverBaseUrl(config);

  const storage = await createStorageManager({ config: withServeUrl(storageConfig, url) });
  // Which node runs the background work: a lease on PostgreSQL, always this one on SQLite.
  const cluster = storage.config.cluster;
  let server: BoardsStorageServer | undefined;
  const lease = new LeaderLease(storage.catalog.dialect === 'postgres' ? storage.catalog.leases : undefined, {
    ...(cluster.nodeId === undefined ? {} : { nodeId: cluster.nodeId }),
    ttlMs: cluster.leaseTtlMs,
    renewMs: cluster.leaseRenewMs,
    onError: (error) => server?.app.log.warn({ err: error }, 'leader lease: the catalog did not answer'),
    // Workers on SQLite (no lease table): the first one runs the background work.
    ...(options.worker ? { worker: { leads: options.worker.index === 1 } } : {}),
  });
  try {
    server = await createServer({ storage, config, leadership: lease, ...(options.logger === undefined ? {} : { logger: options.logger }), ...(options.worker ? { metricsOfAllWorkers: true } : {}) });
    // A worker listens on nothing: the primary hands it connections.
    if (options.worker) await server.app.ready();
    else await server.app.listen({ host: config.host, port: config.port });
    await lease.start();
  } catch (error) {
    await server?.app.close();
    await lease.stop();
    await storage.close();
    throw error;
  }
  const running = server;
  const refuseConnections = options.worker ? serveHandedConnections(running.app.server) : undefined;
  if (options.worker) workerReady(url);
  // Webhooks: the trigger writes events only while some are configured (every node says so alike).
  const webhooks = parseWebhooks(storage.config.webhooks);
  await storage.catalog.webhooks.setEnabled(webhooks.length > 0);
  // Background work runs on the leader only, and moves to another node when the leader goes.
  const stopBackground = whileLeader(lease, () => {
    running.app.log.info({ node: lease.nodeId }, 'leading: background work runs on this node');
    const stops = startBackgroundWork(storage, running, config, webhooks, lease.nodeId);
    return async () => {
      running.app.log.info({ node: lease.nodeId }, 'no longer leading: background work stops on this node');
      for (const stop of stops) await stop();
    };
  });
  let closing: Promise<void> | undefined;
  return {
    ...running,
    storage,
    url,
    close() {
      closing ??= (async () => {
        // The primary hands new connections to the other workers from now on.
        refuseConnections?.();
        const deadline = setTimeout(() => running.app.server.closeAllConnections(), config.shutdownTimeoutMs);
        deadline.unref();
        try {
          await running.app.close();
        } finally {
          clearTimeout(deadline);
          await stopBackground();
          await lease.stop();
          await storage.close();
        }
      })();
      return closing;
    },
  };
}

/**
 * The work one node does for all: the TTL sweep of temporary files and expired uploads, mirror
 * copies and preset variants left to retry, the webhook outbox, expired resumable uploads and the
 * scrub. Returns the functions that stop each (each waits for a pass under way).
 */
function startBackgroundWork(storage: StorageManager, server: BoardsStorageServer, config: ServerConfig, webhooks: Webhook[], nodeId: string): (() => Promise<void>)[] {
  const log = server.app.log;
  return [
    // Every cleanup.cleanup_interval_hours.
    startCleanupTask(storage, {
      // The audit trail says which node deleted each expired file.
      actor: `cleanup:${nodeId}`,
      onSweep: (report) => {
        if (report.expiredArtifacts || report.expiredUploads || report.purgedFromTrash || report.failures.length) log.info({ expiredArtifacts: report.expiredArtifacts, expiredUploads: report.expiredUploads, purgedFromTrash: report.purgedFromTrash, failures: report.failures.length }, 'cleanup sweep');
      },
      onError: (error) => log.warn({ err: error }, 'cleanup sweep failed'),
    }),
    // Mirror copies that failed are tried again (a store starts a pass of its own on its node).
    startMirrorTask(storage, { onError: (error) => log.warn({ err: error }, 'mirror pass failed') }),
    webhooks.length > 0
      ? startWebhookTask(storage.catalog, webhooks, { onError: (error) => log.warn({ err: error }, 'webhook delivery pass failed') })
      : async () => undefined,
    // Preset variants queued by stores (also those left by a process that stopped).
    startVariantTask(storage, {
      onError: (error) => log.warn({ err: error }, 'variant pass failed'),
      onSkipped: (report) => { for (const s of report.skipped) log.warn({ storageKey: s.key, variant: s.name }, `variant skipped: ${s.reason}`); },
    }),
    // Resumable uploads left unfinished past their expiration.
    startTusSweep(server.tus, config.tus.sweepIntervalMs, (error) => log.warn({ err: error }, 'TUS sweep failed')),
    // Copies found corrupt before a restart and not yet repaired (their repair is waited for at close).
    resumeRepairs(storage, (error) => log.warn({ err: error }, 'resuming repairs of corrupt copies failed')),
    // Every scrub.interval at scrub.rate_mb_s (scheduled_runs also keeps it to one pass per interval).
    startScrubTask(storage, {
      onScrub: (report) => log.info({ counts: report.counts, artifacts: report.artifacts, bytes: report.bytes }, 'scrub pass'),
      onError: (error) => log.warn({ err: error }, 'scrub pass failed'),
    }),
  ];
}

/** Start the repairs of the corrupt copies the catalog remembers; the returned function waits for them. */
function resumeRepairs(storage: StorageManager, onError: (error: unknown) => void): () => Promise<void> {
  const resuming = storage.integrity.resumeRepairs().catch(onError);
  return async () => {
    await resuming;
    await storage.integrity.settled();
  };
}

/** Providers that sign their own URLs (local, memory: the selfSignedUrls capability) serve them here unless told otherwise. */
function withServeUrl(config: StorageConfig, url: string): StorageConfig {
  const providers = Object.fromEntries(Object.entries(config.providers).map(([name, entry]) => {
    if (!signsOwnUrls(entry.type) || entry.config.serve_url_base !== undefined) return [name, entry];
    return [name, { ...entry, config: { ...entry.config, serve_url_base: url } }];
  }));
  return { ...config, providers };
}

/** A port that is free on `host` now (the OS picks it). */
export async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}
