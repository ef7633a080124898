import type { FastifyInstance } from 'fastify';

/** Browsers send `Authorization`, `Content-Type` and `X-User-Agent` (protocol §3.5). */
const DEFAULT_ALLOWED_HEADERS = 'authorization,content-type,x-user-agent,x-api-key,if-none-match';
const ALLOWED_METHODS = 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS';

/**
 * CORS open to any origin (protocol §3.5), answered from constants. On `onRequest`, the first hook,
 * so every answer carries it: handlers', errors raised by the body parser (400/413/415), 401s from
 * hooks, 404s and 500s (fastify keeps headers set before an error). A preflight (OPTIONS with
 * `Access-Control-Request-Method`) is answered here for any path, without credentials.
 */
export function registerCors(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      const requested = request.headers['access-control-request-headers'];
      void reply
        .code(204)
        .header('access-control-allow-origin', '*')
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', typeof requested === 'string' && requested !== '' ? requested : DEFAULT_ALLOWED_HEADERS)
        .header('access-control-max-age', '86400')
        .header('vary', 'access-control-request-headers')
        .send();
      return;
    }
    void reply.header('access-control-allow-origin', '*');
    done();
  });
}
