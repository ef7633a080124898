import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { UnauthorizedError } from '../common/agent.errors.js';
import { AdminKey } from '../common/admin-key.js';

/** The admin API's prefixes (protocol §4; `/api/proxy` is the C# agent docs' spelling). */
const ADMIN_PREFIXES = ['/api/public/proxy/', '/api/proxy/'];

function isAdminRoute(url: string): boolean {
  const path = url.toLowerCase();
  return ADMIN_PREFIXES.some((prefix) => path.startsWith(prefix));
}

function isBootstrap(url: string): boolean {
  return isAdminRoute(url) && url.toLowerCase().replace(/\/+$/, '').endsWith('/bootstrap');
}

/**
 * Admin routes check the relay proxy key on `onRequest`, before a byte of the body is read, so an
 * unauthenticated upload is refused with 401 without being buffered (the connection is closed
 * rather than drained). Only the bootstrap accepts a large body (BOOTSTRAP_BODY_LIMIT_BYTES); every
 * other route keeps fastify's default, the SDK limit. `AdminKeyGuard` still guards the handlers.
 * Must be registered before Nest registers its routes (`app.init()`).
 */
export function guardAdminRoutesBeforeBody(fastify: FastifyInstance, apiKey: string | undefined, bootstrapBodyLimitBytes: number): void {
  const key = new AdminKey(apiKey);
  const keyFirst: onRequestHookHandler = (request, reply, done) => {
    if (key.matches(request.headers.authorization)) {
      done();
      return;
    }
    void reply.header('connection', 'close');
    done(new UnauthorizedError('missing or wrong relay proxy key'));
  };
  fastify.addHook('onRoute', (route) => {
    if (!isAdminRoute(route.url)) return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, keyFirst];
    if (isBootstrap(route.url)) route.bodyLimit = bootstrapBodyLimitBytes;
  });
}
