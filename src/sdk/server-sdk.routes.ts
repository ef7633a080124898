import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { InvalidRequestError } from '../common/agent.errors.js';
import { serverFullBytes, serverPatchMessage } from '../streaming/server-payload.js';
import { authenticateServerSdk, parseTimestampQuery } from './sdk-auth.js';

const JSON_TYPE = 'application/json; charset=utf-8';
export const SERVER_LATEST_ALL = '/api/public/sdk/server/latest-all';

/**
 * Polling for server SDKs (protocol §3.2), the busiest route: the full payload is bytes cached per
 * environment until its data changes, the secret one map lookup.
 *
 * Registered on fastify directly rather than as a Nest controller: Nest's route pipeline (execution
 * context, interceptor chain, an async wrapper and its promise per request) cost about as much as
 * everything this handler does, and the route uses none of it (no guards, pipes, interceptors or
 * parameter decorators). Everything else is the same as for the controllers: the fastify hooks
 * (CORS, metrics, Nest's own onRequest hooks) are global, the router options (case-insensitive,
 * trailing slash) apply, and an error thrown here goes through fastify's error handler, which Nest
 * hands to the global ProblemFilter, so 400/401/403 are the same problem documents.
 */
@Injectable()
export class ServerSdkRoutes implements OnModuleInit {
  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly http: HttpAdapterHost,
  ) {}

  /** Nest has registered its controllers' routes by now; fastify takes routes until it is ready. */
  onModuleInit(): void {
    const fastify = this.http.httpAdapter.getInstance<FastifyInstance>();
    fastify.get(SERVER_LATEST_ALL, (request, reply) => this.latestAll(request, reply));
  }

  latestAll(request: FastifyRequest, reply: FastifyReply): void {
    const data = this.store.data;
    const secret = authenticateServerSdk(data, request.headers.authorization);
    const timestampQuery = (request.query as Record<string, unknown>)['timestamp'];
    const env = data.env(secret.envId);
    if (timestampQuery === undefined) {
      void reply.header('content-type', JSON_TYPE).send(serverFullBytes(env));
      return;
    }
    const timestamp = parseTimestampQuery(timestampQuery);
    if (timestamp === null) throw new InvalidRequestError('timestamp must be an integer');
    if (timestamp <= 0) {
      void reply.header('content-type', JSON_TYPE).send(serverFullBytes(env));
      return;
    }
    const patch = serverPatchMessage(env, timestamp);
    // Nothing newer: 200 with an empty body, which the node SDK reads as "no changes".
    if (patch === null) void reply.status(200).send();
    else void reply.header('content-type', JSON_TYPE).send(patch);
  }
}
