import { LogController } from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * One log line per request, written when it completes: its method, URL (credentials cut out by
 * the `req` serializer), client address, status and time. Fastify's default writes two
 * ("incoming request" and "request completed"), and on a busy service of small downloads the
 * logging was a tenth of the service's work. Errors are logged as Fastify logs them.
 */
export class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Request ids as Fastify's default makes them, from one counter for Fastify (genReqId) and the raw routes. */
let lastRequestId = 0;
export function nextRequestId(): string {
  // Below 2^31: V8 keeps it a small integer (Fastify's own generator wraps there too).
  lastRequestId = (lastRequestId + 1) & 0x7fffffff;
  return `req-${lastRequestId.toString(36)}`;
}
