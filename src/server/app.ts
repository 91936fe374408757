import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { dataDirSecret } from '../config/secrets.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { Authenticator, resolveJwtSecret } from './auth.ts';
import type { JwtSecret } from './auth.ts';
import { ContentCache } from './content-cache.ts';
import { keepCachesCoherent } from './cache-coherence.ts';
import { HealthMonitor } from './health-monitor.ts';
import type { LeadershipStatus } from '../cluster/leader-lease.ts';
import { registerCors } from './cors.ts';
import { registerAddressLimit, registerTenantLimit } from './rate-limit.ts';
import { openRedis } from './redis-client.ts';
import type { RouteContext } from './context.ts';
import { tenantOf } from './context.ts';
import { errorBody, handleError, renderError } from './errors.ts';
import { ServerMetrics } from './metrics.ts';
import { nextRequestId, OneLinePerRequest } from './request-log.ts';
import { RawRoutes } from './raw-routes.ts';
import { fastArtifactGet } from './fast-get.ts';
import { closesAfterEarlyAnswer, drainAfterEarlyAnswer, streamBodies } from './request-body.ts';
import { UploadSlots } from './upload-slots.ts';
import { clusterMetricsSource } from './workers.ts';
import { artifactReferenceSchema, errorSchema, lineageLinkSchema } from './schemas.ts';
import { resolveServerConfig } from './server-config.ts';
import type { ServerConfig } from './server-config.ts';
import { storeArtifactRoute } from './routes/store-artifact.ts';
import { listArtifactsRoute } from './routes/list-artifacts.ts';
import { readArtifactRoute } from './routes/read-artifact.ts';
import { deleteArtifactRoute } from './routes/delete-artifact.ts';
import { getInfoRoute } from './routes/get-info.ts';
import { updateInfoRoute } from './routes/update-info.ts';
import { auditRoute } from './routes/audit.ts';
import { signUrlsRoute } from './routes/sign-urls.ts';
import { createUploadRoute } from './routes/create-upload.ts';
import { completeUploadRoute } from './routes/complete-upload.ts';
import { statsRoute } from './routes/stats.ts';
import { listTrashRoute, restoreFromTrashRoute } from './routes/trash.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoute } from './routes/metrics.ts';
import { signedDownloadRoute, signedUploadRoute } from './routes/signed.ts';
import { publicArtifactRoute } from './routes/public-artifact.ts';
import { signsOwnUrls } from '../providers/capabilities.ts';
import { TusUploads } from './tus/tus-uploads.ts';
import { tusRoutes } from './tus/tus-routes.ts';
import { webhookDeliveriesRoute } from './routes/webhook-deliveries.ts';
import { copyBoardRoute, deleteBoardRoute, listBoardsRoute } from './routes/boards.ts';
import { boardArchiveRoute } from './routes/board-archive.ts';
import { consoleRoutes } from './routes/console.ts';
import { tenantsRoute } from './routes/tenants.ts';

export interface CreateServerOptions {
  /** The manager the service serves; the caller closes it after the server. */
  storage: StorageManager;
  /** Parsed `server:`/`auth:` sections; default: parsed from the manager's configuration and the environment. */
  config?: ServerConfig;
  /** `false` for no logs; pino options otherwise (level from the config by default). */
  logger?: boolean | Exclude<FastifyServerOptions['logger'], boolean | undefined>;
  /** Process-wide metrics (CPU, memory, event loop) on /metrics; default true. */
  processMetrics?: boolean;
  /** Whether this node runs the background work (startServer's leader lease), shown on /readyz and /metrics. */
  leadership?: { status(): LeadershipStatus };
  /** One of several worker processes (workers.ts): /metrics answers for all of them. */
  metricsOfAllWorkers?: boolean;
  /** Answer the common small GETs before Fastify's routing (fast-get.ts); default true. `false`: every request takes its Fastify route. */
  rawRoutes?: boolean;
}

/** A Fastify app plus what its owner needs to run it. */
export interface BoardsStorageServer {
  app: FastifyInstance;
  config: ServerConfig;
  /** The HS256 secret tokens are verified with (none with JWKS only); `generated` in development. */
  jwt: JwtSecret;
  /** Resumable uploads at /v1/uploads/tus; its owner sweeps expired ones. */
  tus: TusUploads;
  /** The routes answered before Fastify's routing, and how many requests they answered. */
  rawRoutes: RawRoutes;
}

/** Query parameters that carry credentials: never written to a log. */
const SECRET_PARAMS = /([?&](?:sig|token|access_token)=)[^&#]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/**
 * Build the HTTP service: every route of the API with its JSON schema (validation, serialisation
 * and the OpenAPI document at /openapi.json, browsable at /docs), bearer-token auth with tenant
 * isolation, the local providers' signed URLs, /healthz, /readyz and /metrics.
 */
export async function createServer(options: CreateServerOptions): Promise<BoardsStorageServer> {
  const { storage } = options;
  // Concurrent clients' stores share catalog commits (see StorageManager.shareCommits).
  storage.shareCommits = true;
  const config = options.config ?? resolveServerConfig(storage.config);
  const jwt = await resolveJwtSecret(config.auth, storage.config.dataDir);
  const authenticator = new Authenticator(config.auth, jwt.secret);
  const health = new HealthMonitor(storage, storage.config.cluster.healthIntervalMs);
  const ctx: RouteContext = {
    storage,
    config,
    metrics: new ServerMetrics({ processMetrics: options.processMetrics ?? true }),
    cache: new ContentCache(config.cache.maxObjectBytes, config.cache.maxTotalBytes),
    signingSecrets: await signingSecrets(storage),
    uploads: new UploadSlots({ maxTotal: config.maxConcurrentUploads, maxPerTenant: config.maxConcurrentUploadsPerTenant }),
    health,
    ...(options.leadership ? { leadership: options.leadership } : {}),
  };
  ctx.metrics.watchStorage(storage);
  ctx.metrics.watchNode(options.leadership, health);
  if (options.metricsOfAllWorkers) ctx.metrics.ofAllWorkers(clusterMetricsSource(ctx.metrics.registry));
  const tus = new TusUploads(storage, config);
  // Requests answered before Fastify's routing (small GETs); everything else reaches Fastify unchanged.
  const rawRoutes = new RawRoutes();

  const app = Fastify({
    serverFactory: rawRoutes.serverFactory(),
    genReqId: nextRequestId,
    logger: loggerOptions(options.logger, config.logLevel),
    logController: new OneLinePerRequest(),
    // Uploads and downloads of any size: no request deadline, bodies stream (see request-body.ts).
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    exposeHeadRoutes: true,
    routerOptions: { maxParamLength: 2048 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    clientErrorHandler: answerClientError,
    // Behind a load balancer the client's address comes from X-Forwarded-For (server.trust_proxy).
    trustProxy: config.trustProxy as NonNullable<FastifyServerOptions['trustProxy']>,
  });
  // Shared rate-limit counters (and closed with the app).
  const redis = storage.config.redisUrl ? await openRedis(storage.config.redisUrl) : undefined;
  // Shutting down: a connection that cannot say goodbye is closed all the same.
  if (redis) app.addHook('onClose', async () => { await redis.quit().catch(() => undefined); });
  // Corrupt copies found by verified reads, and their repairs, go to the log (never bytes or secrets).
  const stopIntegrityLog = storage.integrity.onEvent((event) => {
    if (event.type === 'corruption') app.log.error({ storageKey: event.storageKey, provider: event.provider, details: event.error.details }, 'corrupt copy found');
    else if (event.type === 'repaired') app.log.warn({ storageKey: event.storageKey, provider: event.provider, from: event.from }, 'corrupt copy repaired');
    else app.log.error({ storageKey: event.storageKey, provider: event.provider, reason: event.error }, 'corrupt copy could not be repaired');
  });
  app.addHook('onClose', async () => { stopIntegrityLog(); });

  app.setErrorHandler(function onError(error, request, reply) {
    ctx.metrics.errors.inc({ code: renderError(error).code });
    handleError.call(this, error, request, reply);
  });
  app.setNotFoundHandler((request, reply) => {
    ctx.metrics.errors.inc({ code: 'NOT_FOUND' });
    void reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${redactUrl(request.url.split('?', 1)[0]!)}`));
  });
  // An answer sent before the body was read (401, 413, 415, 400): a remainder too large to drain
  // closes the connection, and says so; a smaller one is read and discarded after the answer, so
  // the client's next request on this connection is answered.
  // These hooks run on every request: callback hooks, which cost Fastify no promise each.
  app.addHook('onSend', (request, reply, payload, done) => {
    // A body that stalled (408) is not worth waiting for either.
    if (closesAfterEarlyAnswer(request.raw) || (reply.statusCode === 408 && !request.raw.complete)) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    drainAfterEarlyAnswer(request.raw);
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.requests.inc({ method: request.method, route, status: reply.statusCode });
    const sent = Number(reply.getHeader('content-length'));
    if (request.method !== 'HEAD' && reply.statusCode !== 304 && Number.isFinite(sent) && sent > 0) ctx.metrics.bytesOut.inc({ route }, sent);
    done();
  });
  app.decorateRequest('principal', null);
  rawRoutes.watch(app);
  const fastGet = options.rawRoutes === false ? undefined : fastArtifactGet({ ctx, authenticator, log: app.log });
  if (fastGet) {
    ctx.rows = fastGet.rows;
    rawRoutes.add(fastGet.route);
  }

  // First, so that preflights are answered before any authentication.
  await registerCors(app, config.cors);
  // Per client address, on every route that follows.
  await registerAddressLimit(app, config.rateLimit, redis);

  app.addSchema(errorSchema);
  app.addSchema(lineageLinkSchema);
  app.addSchema(artifactReferenceSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Boards Storage', version: '1', description: 'Artifact storage for generative-AI applications. Send `Authorization: Bearer <JWT>`; errors are `{"error":{"code","message"}}`.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      tags: [
        { name: 'artifacts' }, { name: 'urls' }, { name: 'uploads' }, { name: 'stats' }, { name: 'signed' }, { name: 'operations' }, { name: 'boards' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => documentedRoute(schema as Record<string, unknown> | undefined, url, route.config as { openapiPath?: string } | undefined),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  healthRoutes(app, ctx);
  metricsRoute(app, ctx);

  // Signed URLs: the signature is the credential.
  await app.register(async (signed) => {
    streamBodies(signed);
    signedDownloadRoute(signed, ctx);
    signedUploadRoute(signed, ctx);
  });
  // Public artifacts: no credential, and only while the catalog says public.
  publicArtifactRoute(app, ctx);
  // The web console's files (the app signs in with a bearer token it keeps in memory).
  consoleRoutes(app);

  // Everything else under /v1 needs a bearer token; it is checked before the request is validated.
  await app.register(async (api) => {
    api.addHook('onRequest', (request, _reply, done) => {
      authenticator.authenticate(request.headers.authorization).then((principal) => {
        request.principal = principal;
        done();
      }, done);
    });
    // Per tenant: its hook runs after authentication (route hooks follow the scope's).
    await registerTenantLimit(api, config.rateLimit, redis, (request) => tenantOf(request));
    listArtifactsRoute(api, ctx);
    readArtifactRoute(api, ctx);
    deleteArtifactRoute(api, ctx);
    getInfoRoute(api, ctx);
    updateInfoRoute(api, ctx);
    auditRoute(api, ctx);
    signUrlsRoute(api, ctx);
    createUploadRoute(api, ctx);
    completeUploadRoute(api, ctx);
    statsRoute(api, ctx);
    tenantsRoute(api, ctx);
    await tusRoutes(api, tus, ctx);
    webhookDeliveriesRoute(api, ctx);
    listTrashRoute(api, ctx);
    restoreFromTrashRoute(api, ctx);
    listBoardsRoute(api, ctx);
    deleteBoardRoute(api, ctx);
    copyBoardRoute(api, ctx);
    boardArchiveRoute(api, ctx);
    await api.register(async (uploads) => {
      streamBodies(uploads);
      await uploads.register(multipart, { throwFileSizeLimit: true, limits: { fileSize: storage.config.maxFileSize + 1 } });
      storeArtifactRoute(uploads, ctx);
    });
  });

  // /readyz answers from the latest background check.
  health.start();
  app.addHook('onClose', () => health.stop());
  // Several nodes on one PostgreSQL catalog: what another node deletes or hides leaves this one's caches at once.
  const stopCoherence = await keepCachesCoherent(storage, {
    cache: ctx.cache, authenticator, metrics: ctx.metrics, pingIntervalMs: storage.config.cluster.healthIntervalMs,
    onError: (error) => app.log.warn({ err: error }, 'cache coherence: the catalog\'s change announcements are not reaching this node; its small-object cache is off until they do'),
  });
  if (stopCoherence) app.addHook('onClose', stopCoherence);

  return { app, config, jwt, tus, rawRoutes };
}

/** Requests Node cannot even parse get the one error shape too (or nothing, when the client is gone). */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy(error);
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  const body = JSON.stringify(errorBody('VALIDATION_FAILED', status === 400 ? 'the request is not valid HTTP' : reason.toLowerCase()));
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The signing secrets of providers that sign their own URLs (local, memory): the manager's (as create.ts resolves it) and any provider's own. */
async function signingSecrets(storage: StorageManager): Promise<string[]> {
  const config = storage.config;
  const selfSigning = Object.values(config.providers).filter((p) => signsOwnUrls(p.type));
  const own = selfSigning.map((p) => p.config.signing_secret).filter((s): s is string => typeof s === 'string' && s.length > 0);
  const needsShared = selfSigning.some((p) => !p.config.signing_secret);
  const shared = config.signingSecret ?? (needsShared ? await dataDirSecret(resolve(config.dataDir), 'signing.key') : undefined);
  return [...new Set([...(shared ? [shared] : []), ...own])];
}

/** Pino's request fields take no undefined: an unknown address is left out. */
function withRemoteAddress(remoteAddress: string | undefined): { remoteAddress?: string } {
  return remoteAddress === undefined ? {} : { remoteAddress };
}

function loggerOptions(logger: CreateServerOptions['logger'], level: string): NonNullable<FastifyServerOptions['logger']> {
  if (logger === false) return false;
  const base = typeof logger === 'object' ? logger : {};
  return {
    level,
    ...base,
    // Never a token, a signature or a secret: no headers at all, and credentials cut out of URLs.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'authorization'], censor: '[redacted]' },
    serializers: {
      req: (request: { method: string; url: string; ip?: string; socket?: { remoteAddress?: string | undefined } }) => ({
        method: request.method, url: redactUrl(request.url), ...withRemoteAddress(request.ip ?? request.socket?.remoteAddress),
      }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
    },
  };
}

/** Wildcard routes documented with a named parameter: `/v1/artifacts/*` -> `/v1/artifacts/{storageKey}`. */
function documentedRoute(schema: Record<string, unknown> | undefined, url: string, config: { openapiPath?: string } | undefined): { schema: Record<string, unknown>; url: string } {
  const documented = { ...(schema ?? {}) } as Record<string, unknown>;
  if (url.startsWith('/v1/') && !url.startsWith('/v1/signed/')) documented.security = [{ bearer: [] }];
  if (!url.endsWith('*')) return { schema: documented, url };
  const params = schema?.params as { properties?: Record<string, unknown> } | undefined;
  documented.params = {
    type: 'object',
    required: ['storageKey'],
    properties: { storageKey: params?.properties?.['*'] ?? { type: 'string' } },
  };
  return { schema: documented, url: config?.openapiPath ?? `${url.slice(0, -1)}{storageKey}` };
}
