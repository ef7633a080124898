import { Module } from '@nestjs/common';
import { ProxyAdminController } from './proxy-admin.controller.js';
import { AdminKeyGuard } from './admin-key.guard.js';

@Module({ controllers: [ProxyAdminController], providers: [AdminKeyGuard] })
export class AdminModule {}
