import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

/**
 * Routes answered on node:http's own request and response, before Fastify's routing, for the few
 * requests where Fastify's per-request work (routing, hooks, the request and reply objects) is a
 * large share of the whole (small GETs: fast-get.ts).
 *
 * A raw route either answers the request in full, or calls `next()` (at once, or later, as long as
 * it has written nothing and read nothing of the body) and Fastify then handles the request as if
 * the raw route were not there. So a raw route implements only the cases it answers exactly as
 * Fastify's route would, and hands everything else on: errors, features it does not implement.
 * Requests made with `app.inject` never reach raw routes (they do not pass through the server).
 */
export type RawRoute = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

export class RawRoutes {
  private readonly routes: RawRoute[] = [];
  private closing = false;
  /** Requests that reached the server, and those handed on to Fastify: the rest a raw route answered. */
  readonly counts = { received: 0, handedOn: 0 };

  /** Routes run in the order added; each one's `next` leads to the following one, the last one's to Fastify. */
  add(route: RawRoute): void {
    this.routes.push(route);
  }

  /** Once the app starts closing every request goes to Fastify, which answers 503 (return503OnClosing). */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Call on the app the factory was given to: requests go straight to Fastify once it closes. */
  watch(app: FastifyInstance): void {
    app.addHook('preClose', (done) => {
      this.closing = true;
      done();
    });
  }

  /**
   * Fastify's `serverFactory`: the HTTP/1 server Fastify makes itself (the same timeouts), whose
   * requests pass through the raw routes first.
   */
  serverFactory(): NonNullable<FastifyServerOptions['serverFactory']> {
    return (handler, options) => {
      const routes = this.routes;
      const dispatch = (req: IncomingMessage, res: ServerResponse, index: number): void => {
        const route = index < routes.length && !this.closing ? routes[index] : undefined;
        if (route) route(req, res, () => dispatch(req, res, index + 1));
        else {
          this.counts.handedOn++;
          handler(req, res);
        }
      };
      const server: Server = createServer((options.http ?? {}) as Parameters<typeof createServer>[0] & object, (req, res) => {
        this.counts.received++;
        dispatch(req, res, 0);
      });
      // As Fastify sets them on the server it makes (lib/server.js).
      server.keepAliveTimeout = options.keepAliveTimeout as number;
      server.requestTimeout = options.requestTimeout as number;
      server.setTimeout(options.connectionTimeout as number);
      if ((options.maxRequestsPerSocket as number) > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket as number;
      return server;
    };
  }
}
