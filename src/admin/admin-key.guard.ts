import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { UnauthorizedError } from '../common/agent.errors.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** `Authorization: <API_KEY>` compared in constant time (protocol §4). No key configured → 401. */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(@Inject(AGENT_CONFIG) config: AgentConfig) {
    this.expected = config.apiKey ? digest(config.apiKey) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    if (!this.expected || typeof header !== 'string' || !timingSafeEqual(digest(header), this.expected)) {
      throw new UnauthorizedError('missing or wrong relay proxy key');
    }
    return true;
  }
}
