import { Module } from '@nestjs/common';
import { ServerSdkRoutes } from './server-sdk.routes.js';

@Module({ providers: [ServerSdkRoutes] })
export class SdkModule {}
