import { ConfigError } from '../errors.ts';

/**
 * The optional peer dependencies, by what needs them. They are not installed with the package (a
 * program on local disk needs none of them) and load on first use; a configuration that names one
 * is refused when it is loaded, with the command that installs what is missing. The ranges are the
 * package's peerDependencies (a test keeps the two the same).
 */
export const OPTIONAL_PACKAGES = {
  s3: { '@aws-sdk/client-s3': '^3.1164.0', '@aws-sdk/s3-request-presigner': '^3.1164.0', '@aws-sdk/s3-presigned-post': '^3.1164.0' },
  gcs: { '@google-cloud/storage': '^7.22.0' },
  supabase: { '@supabase/storage-js': '^2.109.0', 'tus-js-client': '^4.3.1' },
  postgres: { pg: '^8.23.1' },
} as const satisfies Record<string, Record<string, string>>;

export type OptionalFeature = keyof typeof OPTIONAL_PACKAGES;

/** Finds a package from where this library is installed; throws when it is not there. */
export type PackageResolver = (name: string) => string;

const fromHere: PackageResolver = (name) => import.meta.resolve(name);

/**
 * Throw a ConfigError naming `path` and the `npm i` command when a package `feature` needs cannot be
 * found. Only resolves names: nothing is loaded here.
 */
export function assertOptionalPackages(feature: OptionalFeature, path: string, resolve: PackageResolver = fromHere): void {
  const packages: Record<string, string> = OPTIONAL_PACKAGES[feature];
  const missing = Object.keys(packages).filter((name) => !isInstalled(name, resolve));
  if (missing.length === 0) return;
  const command = `npm i ${missing.map((name) => `${name}@${packages[name]}`).join(' ')}`;
  throw new ConfigError(`${path}: ${feature === 'postgres' ? 'a PostgreSQL catalog' : `the ${feature} provider`} needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed (optional peer dependencies of boards-storage); run: ${command}`, {
    details: { missing, command },
  });
}

function isInstalled(name: string, resolve: PackageResolver): boolean {
  try {
    resolve(name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return false;
    throw error;
  }
}
