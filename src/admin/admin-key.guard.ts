import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { UnauthorizedError } from '../common/agent.errors.js';
import { AdminKey } from '../common/admin-key.js';

/** `Authorization: <API_KEY>` compared in constant time (protocol §4). No key configured → 401. */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly key: AdminKey;

  constructor(@Inject(AGENT_CONFIG) config: AgentConfig) {
    this.key = new AdminKey(config.apiKey);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.key.matches(context.switchToHttp().getRequest<FastifyRequest>().headers.authorization)) {
      throw new UnauthorizedError('missing or wrong relay proxy key');
    }
    return true;
  }
}
