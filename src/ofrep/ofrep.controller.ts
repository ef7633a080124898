import { hash } from 'node:crypto';
import { Body, Controller, Get, Headers, Inject, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { authenticateSdk, ofrepSecretOf as secretOf, singleHeader as single } from '../sdk/sdk-auth.js';
import { UnauthorizedError } from '../common/agent.errors.js';
import { ClientEvaluationService } from '../client/client-evaluation.service.js';
import { prepareUser } from '../evaluation/end-user.js';
import { contextToUser, toOfrep, toOfrepJson, type OfrepFailure } from './ofrep-mapping.js';
import { INACTIVITY_DELAY_SEC, OfrepEventsService } from './ofrep-events.service.js';

/** OpenFeature Remote Evaluation Protocol v1, served from the agent's memory with the FeatBit evaluator. */
@Controller('ofrep/v1')
export class OfrepController {
  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly clients: ClientEvaluationService,
    private readonly events: OfrepEventsService,
  ) {}

  @Post('evaluate/flags/:key')
  evaluateOne(
    @Param('key') key: string,
    @Headers('authorization') authorization: string | undefined,
    @Headers('x-api-key') apiKey: string | undefined,
    @Body() body: unknown,
    @Res() reply: FastifyReply,
  ): void {
    const secret = authenticateSdk(this.store.data, secretOf(authorization, apiKey));
    const context = contextToUser(body);
    if (!context.ok) return this.fail(reply, 400, { key, errorCode: context.errorCode, errorDetails: context.errorDetails });
    const index = this.clients.index(secret.envId);
    const flag = index.flag(key);
    if (!flag) return this.fail(reply, 404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag ${key} not found` });
    const result = toOfrep(flag, index.evaluate(flag, prepareUser(context.user)));
    if ('errorCode' in result) return this.fail(reply, 400, result);
    void reply.status(200).header('content-type', 'application/json').send(JSON.stringify(result));
  }

  /**
   * Bulk evaluation, the busiest OFREP route: headers and body are read from the request (Nest's
   * parameter decorators cost per call), the etag is a one-shot hash (a third of `createHash`'s
   * cost), and the event stream JSON is a template.
   */
  @Post('evaluate/flags')
  evaluateAll(@Res() reply: FastifyReply): void {
    const { headers, body } = reply.request;
    const secret = authenticateSdk(this.store.data, secretOf(headers.authorization, single(headers['x-api-key'])));
    const context = contextToUser(body);
    if (!context.ok) {
      void reply.status(400).header('content-type', 'application/json').send(JSON.stringify({ errorCode: context.errorCode, errorDetails: context.errorDetails }));
      return;
    }
    // The environment's data and the context together decide the answer.
    const etag = `"${hash('sha1', this.events.envEtag(secret.envId) + JSON.stringify(context.user), 'base64url')}"`;
    const ifNoneMatch = single(headers['if-none-match']);
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim() === etag)) {
      void reply.status(304).header('etag', etag).send();
      return;
    }
    const index = this.clients.index(secret.envId);
    const user = prepareUser(context.user);
    const ctx = index.context();
    let flags = '';
    for (const flag of index.flags) flags += (flags === '' ? '' : ',') + toOfrepJson(flag, index.evaluate(flag, user, ctx));
    // The token is base64url: nothing in it needs escaping.
    const eventStreams = `[{"type":"sse","endpoint":{"requestUri":"/ofrep/v1/events?token=${this.events.tokenFor(secret.envId)}"},"inactivityDelaySec":${INACTIVITY_DELAY_SEC}}]`;
    void reply
      .status(200)
      .header('content-type', 'application/json')
      .header('etag', etag)
      .send(`{"flags":[${flags}],"eventStreams":${eventStreams}}`);
  }

  /** Server-sent change notifications for the environment the token was issued for. */
  @Get('events')
  stream(@Query('token') token: string | undefined, @Res() reply: FastifyReply): void {
    const envId = this.events.envOf(token);
    if (!envId) throw new UnauthorizedError('unknown or expired stream token');
    void reply.hijack();
    this.events.open(envId, reply.raw);
  }

  private fail(reply: FastifyReply, status: number, failure: OfrepFailure): void {
    void reply.status(status).header('content-type', 'application/json').send(JSON.stringify(failure));
  }
}
