import { Module } from '@nestjs/common';
import { ServerSdkController } from './server-sdk.controller.js';

@Module({ controllers: [ServerSdkController] })
export class SdkModule {}
