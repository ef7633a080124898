import { Body, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { InsightsService } from './insights.service.js';

/** SDK usage events (protocol §3.4): validated, handed to the insights pipeline, answered at once. */
@Controller('api/public/insight')
export class InsightsController {
  constructor(private readonly insights: InsightsService) {}

  @Post('track')
  @HttpCode(200)
  track(@Headers('authorization') authorization: string | undefined, @Body() body: unknown): void {
    this.insights.track(authorization?.trim(), body);
  }
}
