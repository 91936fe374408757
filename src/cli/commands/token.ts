import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { loadConfig } from '../../config/load.ts';
import { parseDuration } from '../../config/sizes.ts';
import { mintToken, resolveJwtSecret } from '../../server/auth.ts';
import { resolveServerConfig } from '../../server/server-config.ts';
import { createOutput } from '../output.ts';
import type { GlobalOptions } from '../open-storage.ts';
import { issuerAndAudience } from './serve.ts';

/** `boards-storage token`: an HS256 token signed with the secret `serve` verifies, for development and scripts. */
export function registerToken(program: Command): void {
  program.command('token')
    .description('mint a bearer token for the HTTP API with the configured secret (auth.jwt_secret, else jwt.key in the data directory)')
    .option('--tenant <tenantId>', 'the tenant the token acts for (default: "default"; none for --role service)')
    .option('--sub <subject>', 'the user, recorded as the actor of changes', 'dev')
    .option('--role <role>', 'e.g. "service": may act for any tenant by naming it')
    .option('-e, --expires <duration>', 'lifetime: 90s, 15m, 1h, 7d', '1d')
    .action(async (opts: { tenant?: string; sub: string; role?: string; expires: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const output = createOutput(Boolean(globals.json));
      try {
        const env = globals.dataDir ? { ...process.env, BOARDS_STORAGE_DATA_DIR: globals.dataDir } : process.env;
        const config = loadConfig(globals.config, { env });
        const { auth } = resolveServerConfig(config, env);
        const { secret } = await resolveJwtSecret(auth, config.dataDir);
        if (!secret) throw new ConfigError('storage.auth: only jwks_url is configured; tokens come from your identity provider (set auth.jwt_secret to mint them here)');
        const expiresIn = parseDuration(opts.expires, '--expires');
        const tenantId = opts.tenant ?? (opts.role === undefined ? 'default' : undefined);
        const token = await mintToken(secret, { subject: opts.sub, expiresIn, ...(tenantId === undefined ? {} : { tenantId }), ...(opts.role ? { role: opts.role } : {}), ...issuerAndAudience(auth) }, auth.tenantClaim, auth.roleClaim);
        output.result(token, { token, tenantId: tenantId ?? null, sub: opts.sub, role: opts.role ?? null, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString() });
      } catch (error) {
        output.error(error);
        process.exitCode = 1;
      }
    });
}
