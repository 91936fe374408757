import { resolve } from 'node:path';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { dataDirSecret } from '../config/secrets.ts';
import { AccessDeniedError, ConfigError, ProviderUnavailableError, SecurityError, StorageError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import { AuthenticationError } from './errors.ts';
import type { AuthSettings } from './server-config.ts';

/** Who is calling, from a verified token. */
export interface Principal {
  /** The `sub` claim: recorded as the actor of every change. */
  subject: string;
  /** The tenant named by the token; a service token may have none and name one per request. */
  tenantId?: string;
  role?: string;
  /** May act for any tenant. */
  isService: boolean;
}

/** The name of the generated HS256 secret inside the data directory. */
export const JWT_SECRET_FILE = 'jwt.key';
const HS_ALGORITHMS = ['HS256'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA'];
const MAX_TOKEN_LENGTH = 16 * 1024;
/** Verified tokens are remembered briefly, so a busy client does not pay for verification on every request. */
const VERIFIED_CACHE_MAX = 10_000;
const VERIFIED_CACHE_MS = 30_000;

export interface JwtSecret {
  secret?: string;
  /** True when the secret is the development one kept in the data directory. */
  generated: boolean;
}

/**
 * The HS256 secret: `auth.jwt_secret` (or BOARDS_STORAGE_JWT_SECRET) when set; none when only a
 * JWKS URL is configured; otherwise one generated once into `{dataDir}/jwt.key`. Never a default.
 */
export async function resolveJwtSecret(auth: AuthSettings, dataDir: string): Promise<JwtSecret> {
  if (auth.jwtSecret) return { secret: auth.jwtSecret, generated: false };
  if (auth.jwksUrl) return { generated: false };
  return { secret: await dataDirSecret(resolve(dataDir), JWT_SECRET_FILE), generated: true };
}

export interface MintTokenOptions {
  tenantId?: string;
  subject: string;
  role?: string;
  /** Seconds. */
  expiresIn: number;
  issuer?: string;
  audience?: string;
}

/** An HS256 token for development and scripts, as `boards-storage token` prints it. */
export async function mintToken(secret: string, options: MintTokenOptions, tenantClaim = 'tenant_id', roleClaim = 'role'): Promise<string> {
  if (!options.subject) throw new ConfigError('a token needs a subject (--sub)');
  if (!Number.isFinite(options.expiresIn) || options.expiresIn <= 0) throw new ConfigError('a token needs a positive lifetime');
  const claims: JWTPayload = {};
  if (options.tenantId !== undefined) claims[tenantClaim] = assertSafeId('tenantId', options.tenantId);
  if (options.role !== undefined) claims[roleClaim] = options.role;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + Math.ceil(options.expiresIn));
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** Verifies bearer tokens: HS256 with the shared secret, RS256/ES256 (...) from a JWKS URL. */
export class Authenticator {
  private readonly settings: AuthSettings;
  private readonly hmacKey: Uint8Array | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;
  /** How a user of this service gets a new token: said in every expired or unverifiable token's 401. */
  private readonly renewal: string;
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

  constructor(settings: AuthSettings, secret: string | undefined) {
    if (!secret && !settings.jwksUrl) throw new ConfigError('storage.auth: set jwt_secret or jwks_url');
    this.settings = settings;
    this.hmacKey = secret ? new TextEncoder().encode(secret) : undefined;
    this.jwks = settings.jwksUrl ? createRemoteJWKSet(new URL(settings.jwksUrl)) : undefined;
    this.renewal = this.hmacKey
      ? `mint a new one with \`boards-storage token --tenant T --sub U\` (with the service's --config or --data-dir, so that it signs with the same secret)${this.jwks ? ', or sign in again with the identity provider' : ''}`
      : 'sign in again with the identity provider (auth.jwks_url) for a new one';
  }

  /** The principal of an `Authorization` header; throws AuthenticationError (401). */
  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw new AuthenticationError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    const token = bearerToken(header);
    if (token === undefined) throw new AuthenticationError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    const now = Date.now();
    const cached = this.verified.get(token);
    if (cached && cached.until > now) return cached.principal;

    const payload = await this.verify(token);
    const principal = this.principalOf(payload);
    const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : now;
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
    this.verified.set(token, { principal, until: Math.min(now + VERIFIED_CACHE_MS, expiresAt) });
    return principal;
  }

  /**
   * The principal of a token verified within the last moments (the cache `authenticate` keeps), or
   * undefined: anything else (no header, a malformed one, a token not verified yet or expired) is
   * for `authenticate` to judge. Synchronous, for the raw GET path (fast-get.ts).
   */
  remembered(header: string | undefined): Principal | undefined {
    const token = header === undefined ? undefined : bearerToken(header);
    if (token === undefined) return undefined;
    const cached = this.verified.get(token);
    return cached && cached.until > Date.now() ? cached.principal : undefined;
  }

  /** Forget every remembered verification: the next request with each token is verified again. */
  forgetVerified(): void {
    this.verified.clear();
  }

  private async verify(token: string): Promise<JWTPayload> {
    const options = {
      clockTolerance: this.settings.clockToleranceSeconds,
      ...(this.settings.issuer ? { issuer: this.settings.issuer } : {}),
      ...(this.settings.audience ? { audience: this.settings.audience } : {}),
      requiredClaims: ['exp', 'sub'],
    };
    try {
      const alg = headerAlgorithm(token);
      if (alg && HS_ALGORITHMS.includes(alg) && this.hmacKey) {
        return (await jwtVerify(token, this.hmacKey, { ...options, algorithms: HS_ALGORITHMS })).payload;
      }
      if (this.jwks) return (await jwtVerify(token, this.jwks, { ...options, algorithms: ASYMMETRIC_ALGORITHMS })).payload;
      throw new AuthenticationError('TOKEN_INVALID', `tokens signed with ${alg ?? 'an unknown algorithm'} are not accepted`);
    } catch (error) {
      throw asAuthenticationError(error, this.renewal);
    }
  }

  private principalOf(payload: JWTPayload): Principal {
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject.length === 0) throw new AuthenticationError('TOKEN_INVALID', 'the token has no subject (sub)');
    const roleValue = claimAt(payload, this.settings.roleClaim);
    const role = typeof roleValue === 'string' ? roleValue : undefined;
    const isService = role !== undefined && this.settings.serviceRoles.includes(role);
    const tenantValue = claimAt(payload, this.settings.tenantClaim);
    let tenantId: string | undefined;
    if (tenantValue !== undefined && tenantValue !== null && tenantValue !== '') {
      if (typeof tenantValue !== 'string' || !isUsableTenant(tenantValue)) {
        throw new AuthenticationError('TOKEN_INVALID', `the token's ${this.settings.tenantClaim} claim is not a usable tenant id`);
      }
      tenantId = tenantValue;
    }
    if (!tenantId && !isService) throw new AuthenticationError('TENANT_REQUIRED', `the token names no tenant (claim ${this.settings.tenantClaim})`);
    return { subject, isService, ...(tenantId ? { tenantId } : {}), ...(role ? { role } : {}) };
  }
}

/**
 * The tenant a request acts for. A service principal names one with `X-Tenant-Id` or `?tenantId=`
 * (else its own claim, else `fallback`, e.g. the tenant of the key it addresses); anyone else acts
 * for the tenant in its token and may not name another.
 */
export function actingTenant(principal: Principal, named: string | undefined, fallback?: string): string {
  if (named !== undefined && named !== '') {
    if (!isUsableTenant(named)) throw new SecurityError('the named tenant id may contain only letters, digits, ".", "_" and "-"', { details: { field: 'tenantId' } });
    if (principal.isService || named === principal.tenantId) return named;
    throw new AccessDeniedError('only service tokens may act for another tenant');
  }
  const tenant = principal.isService ? (principal.tenantId ?? fallback) : principal.tenantId;
  if (!tenant) throw new AuthenticationError('TENANT_REQUIRED', 'a service token must name the tenant: X-Tenant-Id header or ?tenantId=');
  return tenant;
}

function isUsableTenant(value: string): boolean {
  try {
    assertSafeId('tenantId', value);
  } catch {
    return false;
  }
  return value !== 'temp';
}

/** The token of `Bearer <token>`; undefined for any other header or a token too long to consider. */
function bearerToken(header: string): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return !match || match[1]!.length > MAX_TOKEN_LENGTH ? undefined : match[1]!;
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function headerAlgorithm(token: string): string | undefined {
  const head = token.split('.', 1)[0];
  try {
    const header = JSON.parse(Buffer.from(head ?? '', 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' ? header.alg : undefined;
  } catch {
    throw new AuthenticationError('TOKEN_INVALID', 'the token is not a JWT');
  }
}

/** `renewal` says how this service's users get a new token. */
function asAuthenticationError(error: unknown, renewal: string): StorageError {
  if (error instanceof StorageError) return error;
  if (error instanceof joseErrors.JWTExpired) return new AuthenticationError('TOKEN_EXPIRED', `the token has expired; ${renewal}`, { cause: error });
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
    return new ProviderUnavailableError('the identity provider\'s keys (auth.jwks_url) could not be fetched', { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new AuthenticationError('TOKEN_INVALID', 'the token\'s signing algorithm is not accepted', { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) return new AuthenticationError('TOKEN_INVALID', `the token's ${error.claim} claim is not valid (${error.reason})`, { cause: error });
  return new AuthenticationError('TOKEN_INVALID', `the token does not verify (it was signed with another secret or key, or altered); ${renewal}`, { cause: error });
}
