import { createRequire } from 'node:module';
import type { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';
import { maskSecret } from './mask.js';

/** Field names whose values are secrets wherever they appear in a log record. */
const SECRET_FIELDS = ['apiKey', 'secret', 'authorization', 'token', 'sdkKey', 'password'];

export interface PinoOptions {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** Human-readable output (development); JSON otherwise. */
  pretty: boolean;
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function createPino(options: PinoOptions, destination?: NodeJS.WritableStream): Logger {
  const settings = {
    level: options.level,
    base: { service: 'featbit-agent' },
    redact: {
      paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), 'req.headers.authorization', 'headers.authorization'],
      // Values masked in code already end with `…`; they stay as they are.
      censor: (value: unknown) => (typeof value === 'string' ? (value.endsWith('…') ? value : maskSecret(value)) : '[redacted]'),
    },
  };
  if (destination) return pino(settings, destination);
  if (options.pretty && prettyAvailable()) {
    return pino({ ...settings, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  return pino(settings);
}

/**
 * Nest's logger on pino. Nest calls `log(message, ...params)` with the context (class name) last;
 * object messages become structured fields.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', message: unknown, params: unknown[]): void {
    const context = typeof params[params.length - 1] === 'string' ? (params[params.length - 1] as string) : undefined;
    if (typeof message === 'object' && message !== null && !(message instanceof Error)) {
      this.logger[level]({ context, ...(message as Record<string, unknown>) });
    } else if (message instanceof Error) {
      this.logger[level]({ context, err: message }, message.message);
    } else {
      this.logger[level]({ context }, String(message));
    }
  }
}
