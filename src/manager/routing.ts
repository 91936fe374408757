import { contentTypeMatches } from '../content/content-types.ts';
import type { RoutingCondition, RoutingRule } from '../config/load.ts';

export interface RoutingInput {
  artifactType: string;
  contentType: string;
  tenantId: string;
  /** The announced size; size conditions never match when it is unknown. */
  size?: number;
}

/** The first rule whose condition matches names the provider; otherwise the default. */
export function selectProvider(rules: readonly RoutingRule[], defaultProvider: string, input: RoutingInput): string {
  for (const rule of rules) {
    if (!rule.condition || conditionMatches(rule.condition, input)) return rule.provider;
  }
  return defaultProvider;
}

function conditionMatches(c: RoutingCondition, input: RoutingInput): boolean {
  if (c.artifactType && !c.artifactType.includes(input.artifactType)) return false;
  if (c.tenantId && !c.tenantId.includes(input.tenantId)) return false;
  if (c.contentType && !c.contentType.some((pattern) => contentTypeMatches(pattern, input.contentType))) return false;
  if (c.sizeGt !== undefined && !(input.size !== undefined && input.size > c.sizeGt)) return false;
  if (c.sizeLt !== undefined && !(input.size !== undefined && input.size < c.sizeLt)) return false;
  return true;
}
