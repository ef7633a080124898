import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { InvalidRequestError } from '../common/agent.errors.js';
import { serverFullBytes, serverPatchMessage } from '../streaming/server-payload.js';
import { authenticateServerSdk, parseTimestampQuery } from './sdk-auth.js';

/** Polling for server SDKs (protocol §3.2). The full payload is cached bytes until data changes. */
@Controller('api/public/sdk/server')
export class ServerSdkController {
  constructor(@Inject(FLAG_STORE) private readonly store: FlagStore) {}

  @Get('latest-all')
  latestAll(
    @Headers('authorization') authorization: string | undefined,
    @Query('timestamp') timestampQuery: unknown,
    @Res() reply: FastifyReply,
  ): void {
    const secret = authenticateServerSdk(this.store.data, authorization);
    const timestamp = parseTimestampQuery(timestampQuery);
    if (timestamp === null) throw new InvalidRequestError('timestamp must be an integer');
    const env = this.store.data.env(secret.envId);
    if (timestamp <= 0) {
      void reply.header('content-type', 'application/json; charset=utf-8').send(serverFullBytes(env));
      return;
    }
    const patch = serverPatchMessage(env, timestamp);
    // Nothing newer: 200 with an empty body, which the node SDK reads as "no changes".
    if (patch === null) void reply.status(200).send();
    else void reply.header('content-type', 'application/json; charset=utf-8').send(patch);
  }
}
