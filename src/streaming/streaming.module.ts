import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { ConnectionRegistry } from './connection-registry.js';
import { DataSyncService } from './data-sync.service.js';
import { PushService } from './push.service.js';
import { StreamingGateway } from './streaming.gateway.js';
import { CLIENT_SYNC, NoClientSync } from './client-sync.js';

@Module({})
export class StreamingModule {
  /** `clientSync` answers client SDKs; without one they are accepted but get no payload. */
  static forRoot(clientSync: Provider = { provide: CLIENT_SYNC, useClass: NoClientSync }): DynamicModule {
    return {
      module: StreamingModule,
      providers: [ConnectionRegistry, DataSyncService, PushService, StreamingGateway, clientSync],
      exports: [ConnectionRegistry, PushService, StreamingGateway, CLIENT_SYNC],
    };
  }
}
