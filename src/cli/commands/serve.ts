import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { mintToken } from '../../server/auth.ts';
import { loadConfig } from '../../config/load.ts';
import { resolveServerConfig } from '../../server/server-config.ts';
import { startServer } from '../../server/start.ts';
import type { RunningServer } from '../../server/start.ts';
import { runWorkers, startsWorkers, workerRole } from '../../server/workers.ts';
import type { WorkerRole } from '../../server/workers.ts';
import { createOutput } from '../output.ts';
import type { GlobalOptions } from '../open-storage.ts';

const DEV_TOKEN_SECONDS = 24 * 3600;
/** A stopping worker exits this long after server.shutdown_timeout whatever still runs (a second sooner than its primary would kill it). */
const WORKER_EXIT_GRACE_MS = 4000;

/** `boards-storage serve`: the HTTP service, until SIGTERM or SIGINT. */
export function registerServe(program: Command): void {
  program.command('serve')
    .description('run the HTTP API (default http://127.0.0.1:8080, local disk + SQLite under ./.boards-storage)')
    .option('--host <host>', 'interface to listen on (default: server.host, BOARDS_STORAGE_HOST, else 127.0.0.1)')
    .option('--port <port>', 'port (default: server.port, BOARDS_STORAGE_PORT, else 8080; 0 picks a free one)')
    .option('--workers <n>', 'processes serving the port, e.g. one per core (default: server.workers, BOARDS_STORAGE_WORKERS, else 1)')
    .action(async (opts: { host?: string; port?: string; workers?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const output = createOutput(Boolean(globals.json));
      const env = globals.dataDir ? { ...process.env, BOARDS_STORAGE_DATA_DIR: globals.dataDir } : process.env;
      const worker = workerRole(env);
      // Whatever reads the output may go first (`serve | head -1`): the service, and its SIGTERM, carry on without it.
      ignoreBrokenOutput();
      let server: RunningServer;
      try {
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new ConfigError(`--port: "${opts.port}" is not a port number`);
        const configPath = globals.config;
        if (!worker) {
          const plan = workersPlan(opts.workers, configPath, env);
          if (startsWorkers(plan.count)) return await primary({ ...plan, ...(opts.host ? { host: opts.host } : {}), ...(port === undefined ? {} : { port }) });
        }
        server = await startServer({ env, ...(configPath ? { configPath } : {}), ...(opts.host ? { host: opts.host } : {}), ...(port === undefined ? {} : { port }), ...(worker ? { worker } : {}) });
      } catch (error) {
        output.error(error);
        process.exitCode = 1;
        return;
      }
      // The workers after the first share its port and its banner.
      if (!worker || worker.index === 1) process.stdout.write(await banner(server, worker));
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          process.stderr.write(`boards-storage: ${signal} again: exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        if (worker) {
          // Its primary kills it past this bound; without a primary (killed) it ends itself.
          setTimeout(() => {
            process.stderr.write(`boards-storage: worker ${worker.index} did not stop within server.shutdown_timeout and ${WORKER_EXIT_GRACE_MS} ms; exiting\n`);
            process.exit(1);
          }, server.config.shutdownTimeoutMs + WORKER_EXIT_GRACE_MS).unref();
        }
        server.app.log.info({ signal }, 'shutting down: finishing in-flight requests');
        server.close().then(() => {
          server.app.log.info('stopped');
        }, (error: unknown) => {
          output.error(error);
          process.exitCode = 1;
        }).finally(() => {
          // A worker's channel to the primary would keep it alive.
          if (worker && process.connected) process.disconnect();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      if (!worker) process.once('SIGINT', () => stop('SIGINT'));
      else {
        // Ctrl-C reaches the primary and every worker at once: the primary's SIGTERM is the one a worker obeys.
        process.on('SIGINT', () => undefined);
        // The primary gone (killed): finish what is in flight and go too.
        process.once('disconnect', () => { if (!stopping) stop('disconnect'); });
      }
    });
}

/** What a developer needs on the first start: where it listens, a token, and curl lines that work. */
async function banner(server: RunningServer, worker: WorkerRole | undefined): Promise<string> {
  const { url, jwt, config, storage } = server;
  const processes = worker ? `, ${worker.count} worker processes` : '';
  const lines = [`boards-storage listening on ${url} (data: ${storage.config.dataDir}${processes})`, `  Console: ${url}/console/   API reference: ${url}/docs   OpenAPI: ${url}/openapi.json`];
  if (jwt.generated && jwt.secret) {
    const token = await mintToken(jwt.secret, { tenantId: 'default', subject: 'dev', expiresIn: DEV_TOKEN_SECONDS, ...issuerAndAudience(config.auth) }, config.auth.tenantClaim, config.auth.roleClaim);
    lines.push(
      '',
      '  Development token (tenant "default", 24h; the secret is jwt.key in the data directory):',
      `    export TOKEN=${token}`,
      '  Open the console signed in with it (the token is in the fragment, which browsers never send):',
      `    ${url}/console/#token=${token}`,
      '  Upload a PNG (put the path of any PNG in place of fox.png):',
      `    curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" -H "Content-Type: image/png" --data-binary @fox.png "${url}/v1/artifacts?artifactType=image"`,
      '  No PNG at hand? Store a line of text instead:',
      `    curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/plain" --data-binary "hello, boards" "${url}/v1/artifacts?artifactType=text"`,
      '  Download (put the storageKey from the upload\'s answer in place of <storageKey>; a new file, never your upload):',
      `    curl -sS --fail -H "Authorization: Bearer $TOKEN" -o downloaded-artifact "${url}/v1/artifacts/<storageKey>"`,
      '  Other tokens: boards-storage token --tenant T --sub U [--role service] [--expires 1d]',
    );
  }
  return lines.join('\n') + '\n\n';
}

export function issuerAndAudience(auth: { issuer?: string | string[]; audience?: string | string[] }): { issuer?: string; audience?: string } {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const issuer = first(auth.issuer);
  const audience = first(auth.audience);
  return { ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}) };
}

/**
 * A closed pipe on stdout or stderr (EPIPE) would otherwise end the process with an unhandled
 * 'error' event, a worker in the middle of its banner included (and its replacement the same way).
 * What was to be printed is lost; requests are still served and logged to where pino can write.
 */
function ignoreBrokenOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
}

interface WorkersPlan { count: number; host: string; port: number; shutdownTimeoutMs: number }

/**
 * --workers, else server.workers (BOARDS_STORAGE_WORKERS) of the configuration, and where the
 * primary listens. Rate limits counted in memory would be counted by each worker alone (N times
 * the limit let through): with several workers they need redis_url, as several nodes do.
 */
function workersPlan(option: string | undefined, configPath: string | undefined, env: Record<string, string | undefined>): WorkersPlan {
  const storageConfig = loadConfig(configPath, { env });
  const server = resolveServerConfig(storageConfig, env);
  let count = server.workers;
  if (option !== undefined) {
    count = Number(option);
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new ConfigError(`--workers: "${option}" is not a number of processes (1 to 64)`);
  }
  if (count > 1 && (server.rateLimit.perTenant || server.rateLimit.perAddress) && !storageConfig.redisUrl) {
    throw new ConfigError(`storage.server.rate_limit with ${count} workers needs storage.redis_url: each worker would count requests on its own and let ${count} times the limit through`);
  }
  return { count, host: server.host, port: server.port, shutdownTimeoutMs: server.shutdownTimeoutMs };
}

/** The primary of `serve --workers N`: listens, starts the workers (each runs this command again) and stops them on SIGTERM/SIGINT. */
async function primary(plan: WorkersPlan): Promise<void> {
  const log = (line: string) => { process.stderr.write(line + '\n'); };
  const workers = runWorkers({ ...plan, log });
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log(`boards-storage: ${signal} again: stopping the workers now`);
      workers.stop('SIGKILL');
      return;
    }
    workers.stop('SIGTERM');
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await workers.ready;
  } catch (error) {
    process.exitCode = 1;
    await workers.stopped;
    throw error;
  }
  const code = await workers.stopped;
  process.exitCode = code;
}
