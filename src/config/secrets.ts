import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';

/**
 * A secret kept in the data directory: read when it exists, otherwise made from 32 random bytes
 * and written with owner-only permissions. There is never a built-in default.
 */
export async function dataDirSecret(dataDir: string, name: string): Promise<string> {
  const path = join(dataDir, name);
  const existing = await readFile(path, 'utf8').then((s) => s.trim(), () => undefined);
  if (existing) return existing;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const secret = randomBytes(32).toString('base64url');
    await writeFile(path, secret + '\n', { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    // Another process may have created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(path, 'utf8')).trim();
    throw new ConfigError(`data_dir: cannot create ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); set data_dir to a writable directory`, { cause: error });
  }
}
