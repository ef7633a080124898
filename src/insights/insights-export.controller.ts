import { Controller, Get, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminKeyGuard } from '../admin/admin-key.guard.js';
import { InvalidRequestError } from '../common/agent.errors.js';
import { InsightsService } from './insights.service.js';

function dateParam(value: unknown, fallback: Date, name: string): Date {
  if (value === undefined || value === '') return fallback;
  const at = typeof value === 'string' ? (/^\d+$/.test(value) ? Number(value) : Date.parse(value)) : Number.NaN;
  if (Number.isNaN(at)) throw new InvalidRequestError(`${name} must be an ISO date-time or epoch milliseconds`);
  return new Date(at);
}

/** Export of kept-local insights as NDJSON (INSIGHTS_MODE=local), guarded like the admin API. */
@Controller(['api/public/proxy', 'api/proxy'])
@UseGuards(AdminKeyGuard)
export class InsightsExportController {
  constructor(private readonly insights: InsightsService) {}

  @Get('insights')
  async export(@Query('from') from: unknown, @Query('to') to: unknown, @Res() reply: FastifyReply): Promise<void> {
    const range = { from: dateParam(from, new Date(0), 'from'), to: dateParam(to, new Date('9999-12-31T23:59:59.999Z'), 'to') };
    let body = '';
    for await (const entry of this.insights.local.export(range.from, range.to)) body += `${JSON.stringify(entry)}\n`;
    void reply.status(200).header('content-type', 'application/x-ndjson; charset=utf-8').send(body);
  }
}
