import { randomUUID } from 'node:crypto';
import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AgentError, type AgentErrorCode } from './agent.errors.js';

const STATUS: Record<AgentErrorCode, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  INVALID_REQUEST: 400,
  INVALID_BOOTSTRAP: 400,
  INVALID_END_USER: 400,
  STORE_UNAVAILABLE: 503,
  UPSTREAM_REJECTED: 502,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** The RFC 7807 problem document every error answer carries (`application/problem+json`). */
export function problemJson(status: number, detail: string, errorId?: string): string {
  return JSON.stringify({ type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...(errorId ? { errorId } : {}) });
}

/** Errors fastify raises before a handler runs (body parser, limits), by their code. */
function fastifyCode(error: HttpException): string | undefined {
  const cause = error.cause as { code?: unknown } | undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/**
 * Errors become RFC 7807 problem documents (protocol §3.5); unexpected ones get a logged errorId.
 * Fastify's own errors (bad JSON, body too large, unsupported media type, 404) come here too.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemFilter.name);

  catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (error instanceof AgentError) {
      const status = STATUS[error.code];
      if (error.code === 'INVALID_END_USER') {
        void reply.status(status).header('content-type', 'text/plain; charset=utf-8').send('invalid end user');
        return;
      }
      this.send(reply, status, error.message);
      return;
    }
    if (error instanceof HttpException) {
      this.send(reply, error.getStatus(), this.detail(error, reply));
      return;
    }
    const errorId = randomUUID();
    this.logger.error({ msg: 'unexpected error', errorId, err: error instanceof Error ? error.stack : String(error) });
    this.send(reply, 500, 'unexpected error', errorId);
  }

  private detail(error: HttpException, reply: FastifyReply): string {
    const code = fastifyCode(error);
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return `request body larger than the ${reply.request.routeOptions.bodyLimit} bytes this route accepts`;
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return `unsupported content type ${String(reply.request.headers['content-type']).slice(0, 100)}; send application/json`;
    }
    return error.message;
  }

  private send(reply: FastifyReply, status: number, detail: string, errorId?: string): void {
    void reply.status(status).header('content-type', 'application/problem+json').send(problemJson(status, detail, errorId));
  }
}
