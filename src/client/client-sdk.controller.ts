import { Controller, Inject, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { InvalidEndUserError, InvalidRequestError } from '../common/agent.errors.js';
import { authenticateSdk, parseTimestampQuery } from '../sdk/sdk-auth.js';
import { ClientEvaluationService } from './client-evaluation.service.js';

/** Polling for client SDKs (protocol §3.3): flags evaluated for the posted user. */
@Controller('api/public/sdk/client')
export class ClientSdkController {
  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly clients: ClientEvaluationService,
  ) {}

  /**
   * Headers, query and body are read from the request: Nest's parameter decorators cost per call.
   * The answer goes out as a string: `Buffer.from` would save fastify's length pass but allocates
   * a fresh 20 KB backing store per request, and measured no better.
   */
  @Post('latest-all')
  latestAll(@Res() reply: FastifyReply): void {
    const { headers, query, body } = reply.request;
    const secret = authenticateSdk(this.store.data, headers.authorization);
    const timestamp = parseTimestampQuery((query as Record<string, unknown>)['timestamp']);
    if (timestamp === null) throw new InvalidRequestError('timestamp must be an integer');
    if (body === undefined || body === null) throw new InvalidRequestError('the end user is required');
    const user = this.clients.httpUser(secret.envId, body);
    if (!user) throw new InvalidEndUserError('invalid end user');
    const payload = this.clients.payload(secret.envId, user, timestamp);
    if (payload === null) void reply.status(200).send();
    else void reply.status(200).header('content-type', 'application/json; charset=utf-8').send(payload);
  }
}
