import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { StorageError } from '../errors.ts';

/**
 * Errors of the HTTP layer and the one place every error becomes `{"error":{"code","message"}}`.
 * Library errors keep their code and status; a client error is never a 500, and a 500 never
 * carries a stack trace or an internal message to the client.
 */

/** Why a request was not authenticated: rendered as the error code of a 401. */
export type AuthenticationFailure = 'UNAUTHENTICATED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TENANT_REQUIRED';

/** 401: no token, or one that does not verify. A StorageError so that every error is one. */
export class AuthenticationError extends StorageError {
  readonly reason: AuthenticationFailure;

  constructor(reason: AuthenticationFailure, message: string, options: { cause?: unknown } = {}) {
    super(message, options, { code: 'UNAUTHENTICATED', status: 401 });
    this.reason = reason;
  }
}

export interface RenderedError {
  status: number;
  code: string;
  message: string;
  /** A refused store over quota: the tenant's used and allowed figures. */
  quota?: unknown;
}

/** Fastify's own client errors (body parsing, content types, multipart) by their code. */
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'CONTENT_TYPE_NOT_ALLOWED' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'VALIDATION_FAILED' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'CONTENT_TOO_LARGE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'VALIDATION_FAILED' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'VALIDATION_FAILED' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'VALIDATION_FAILED' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'CONTENT_TOO_LARGE' },
  FST_FILES_LIMIT: { status: 413, code: 'VALIDATION_FAILED' },
  FST_FIELDS_LIMIT: { status: 413, code: 'VALIDATION_FAILED' },
  FST_PARTS_LIMIT: { status: 413, code: 'VALIDATION_FAILED' },
  FST_PROTO_VIOLATION: { status: 400, code: 'VALIDATION_FAILED' },
  FST_NO_FORM_DATA: { status: 400, code: 'VALIDATION_FAILED' },
};

export function renderError(error: unknown): RenderedError {
  if (error instanceof AuthenticationError) return { status: 401, code: error.reason, message: error.message };
  if (error instanceof StorageError) {
    const quota = error.details.quota ? { quota: error.details.quota } : {};
    if (error.status >= 500) return { status: error.status, code: error.code, message: publicServerMessage(error), ...quota };
    return { status: error.status, code: error.code, message: error.message, ...quota };
  }
  const fastifyError = error as Partial<FastifyError> | undefined;
  if (fastifyError?.validation) {
    return { status: 400, code: 'VALIDATION_FAILED', message: fastifyError.message ?? 'the request is not valid' };
  }
  const known = fastifyError?.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) return { ...known, message: fastifyError?.message ?? known.code };
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, code: status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED', message: fastifyError?.message ?? 'bad request' };
  }
  return { status: 500, code: 'STORAGE_ERROR', message: 'internal error; the server log has the details' };
}

/** Messages of 5xx StorageErrors are written for operators; keep them but never a stack. */
function publicServerMessage(error: StorageError): string {
  return error.code === 'STORAGE_ERROR' ? 'internal error; the server log has the details' : error.message;
}

/** The error of a rendered failure, quota figures included. */
export function renderedBody(rendered: RenderedError): { error: { code: string; message: string; quota?: unknown } } {
  return { error: { code: rendered.code, message: rendered.message, ...(rendered.quota ? { quota: rendered.quota } : {}) } };
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** Fastify error handler: log server faults with their stack, answer everyone with the one shape. */
export function handleError(this: unknown, error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const rendered = renderError(error);
  if (rendered.status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: rendered.code, status: rendered.status }, rendered.message);
  reply.header('cache-control', 'no-store');
  const retryAfter = error instanceof StorageError ? error.details.retryAfterSeconds : undefined;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
  void reply.code(rendered.status).type('application/json; charset=utf-8').send(renderedBody(rendered));
}
