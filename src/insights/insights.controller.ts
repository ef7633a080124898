import { Body, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { parseEnvSecret } from '../credentials/env-secret.js';
import { InvalidRequestError, UnauthorizedError } from '../common/agent.errors.js';
import { InsightsService } from './insights.service.js';

/** SDK usage events (protocol §3.4): validated, handed to the insights pipeline, answered at once. */
@Controller('api/public/insight')
export class InsightsController {
  constructor(private readonly insights: InsightsService) {}

  @Post('track')
  @HttpCode(200)
  track(@Headers('authorization') authorization: string | undefined, @Body() body: unknown): void {
    const secret = authorization?.trim();
    if (!secret || !parseEnvSecret(secret)) throw new UnauthorizedError('missing or malformed environment secret');
    if (!Array.isArray(body) || body.some((e) => typeof e !== 'object' || e === null || Array.isArray(e))) {
      throw new InvalidRequestError('body must be a JSON array of insight objects');
    }
    this.insights.accept(secret, body as Record<string, unknown>[]);
  }
}
