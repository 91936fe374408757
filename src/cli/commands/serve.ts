import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { mintToken } from '../../server/auth.ts';
import { startServer } from '../../server/start.ts';
import type { RunningServer } from '../../server/start.ts';
import { createOutput } from '../output.ts';
import type { GlobalOptions } from '../open-storage.ts';

const DEV_TOKEN_SECONDS = 24 * 3600;

/** `boards-storage serve`: the HTTP service, until SIGTERM or SIGINT. */
export function registerServe(program: Command): void {
  program.command('serve')
    .description('run the HTTP API (default http://127.0.0.1:8080, local disk + SQLite under ./.boards-storage)')
    .option('--host <host>', 'interface to listen on (default: server.host, BOARDS_STORAGE_HOST, else 127.0.0.1)')
    .option('--port <port>', 'port (default: server.port, BOARDS_STORAGE_PORT, else 8080; 0 picks a free one)')
    .action(async (opts: { host?: string; port?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const output = createOutput(Boolean(globals.json));
      const env = globals.dataDir ? { ...process.env, BOARDS_STORAGE_DATA_DIR: globals.dataDir } : process.env;
      let server: RunningServer;
      try {
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new ConfigError(`--port: "${opts.port}" is not a port number`);
        server = await startServer({ env, ...(globals.config ? { configPath: globals.config } : {}), ...(opts.host ? { host: opts.host } : {}), ...(port === undefined ? {} : { port }) });
      } catch (error) {
        output.error(error);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(await banner(server));
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          process.stderr.write(`boards-storage: ${signal} again: exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        server.app.log.info({ signal }, 'shutting down: finishing in-flight requests');
        server.close().then(() => {
          server.app.log.info('stopped');
        }, (error: unknown) => {
          output.error(error);
          process.exitCode = 1;
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}

/** What a developer needs on the first start: where it listens, a token, and curl lines that work. */
async function banner(server: RunningServer): Promise<string> {
  const { url, jwt, config, storage } = server;
  const lines = [`boards-storage listening on ${url} (data: ${storage.config.dataDir})`, `  Console: ${url}/console/   API reference: ${url}/docs   OpenAPI: ${url}/openapi.json`];
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
