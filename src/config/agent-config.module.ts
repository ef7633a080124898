import { Module, type DynamicModule } from '@nestjs/common';
import type { AgentConfig } from './agent-config.js';
import { AGENT_CONFIG } from './config.tokens.js';

@Module({})
export class AgentConfigModule {
  static forRoot(config: AgentConfig): DynamicModule {
    return {
      module: AgentConfigModule,
      global: true,
      providers: [{ provide: AGENT_CONFIG, useValue: config }],
      exports: [AGENT_CONFIG],
    };
  }
}
