import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { ConnectionRegistry } from './connection-registry.js';
import { DataSyncService } from './data-sync.service.js';
import { PushService } from './push.service.js';
import { StreamingGateway } from './streaming.gateway.js';
import { CLIENT_SYNC } from './client-sync.js';

@Module({})
export class StreamingModule {
  /** `clientSync` provides CLIENT_SYNC: the evaluation side that answers client SDKs. */
  static forRoot(clientSync: Provider): DynamicModule {
    return {
      module: StreamingModule,
      global: true,
      providers: [ConnectionRegistry, DataSyncService, PushService, StreamingGateway, clientSync],
      exports: [ConnectionRegistry, PushService, StreamingGateway, CLIENT_SYNC],
    };
  }
}
