import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { InvalidRequestError } from '../common/agent.errors.js';
import { serverFullBytes, serverPatchMessage } from '../streaming/server-payload.js';
import { authenticateServerSdk, parseTimestampQuery } from './sdk-auth.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Polling for server SDKs (protocol §3.2), the busiest route: the full payload is bytes cached per
 * environment until its data changes, the secret one map lookup. The handler reads the request
 * from the reply rather than through parameter decorators, which Nest resolves on every call.
 */
@Controller('api/public/sdk/server')
export class ServerSdkController {
  constructor(@Inject(FLAG_STORE) private readonly store: FlagStore) {}

  @Get('latest-all')
  latestAll(@Res() reply: FastifyReply): void {
    const request = reply.request;
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
