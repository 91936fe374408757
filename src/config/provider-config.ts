import type { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';

/** Parse one provider's `config` block, naming the offending path when it is wrong. */
export function parseProviderConfig<S extends z.ZodType>(schema: S, config: unknown, providerName: string): z.output<S> {
  const result = schema.safeParse(config ?? {});
  if (result.success) return result.data;
  throw new ConfigError(formatIssues(result.error, `storage.providers.${providerName}.config`), { cause: result.error });
}

/** What both Zod APIs report (the library's `zod/v3`, the server's `zod`), for one way of printing it. */
interface SchemaIssues {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** `path.to.field: message; other.path: message` */
export function formatIssues(error: SchemaIssues, root: string): string {
  return error.issues
    .map((issue) => {
      const path = [root, ...issue.path.map(String)].filter(Boolean).join('.');
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
