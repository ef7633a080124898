/** The fields of a log line that say what failed, down to the root cause. */
export interface ErrorDetail {
  /** The message chain, outermost first: `fetch failed: connect ECONNREFUSED 127.0.0.1:5100`. */
  err: string;
  /** The root cause's code: `ECONNREFUSED`, `ENOTFOUND`, `CERT_HAS_EXPIRED`, `NOAUTH`, … */
  code?: string;
  errno?: number;
  syscall?: string;
  /** The failing host, where the error names one. */
  hostname?: string;
  /** The HTTP status of a refused WebSocket upgrade (ws: `Unexpected server response: 502`). */
  statusCode?: number;
}

interface Detailed {
  message?: unknown;
  cause?: unknown;
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  hostname?: unknown;
  address?: unknown;
  errors?: unknown;
}

/**
 * Flattens an error and its `cause` chain (and an AggregateError's first error, as Node's
 * happy-eyeballs connect gives) into log fields, so "fetch failed" or "closed, code 1006" come
 * with the DNS, TCP, TLS or auth failure behind them.
 */
export function errorDetail(error: unknown): ErrorDetail {
  const messages: string[] = [];
  const detail: ErrorDetail = { err: '' };
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (typeof current === 'string') {
      messages.push(current);
      break;
    }
    if (typeof current !== 'object') {
      messages.push(typeof current === 'number' || typeof current === 'boolean' || typeof current === 'bigint' ? current.toString() : typeof current);
      break;
    }
    const e = current as Detailed;
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : undefined;
    if (message !== undefined && !messages.some((m) => m.includes(message))) messages.push(message);
    if (typeof e.code === 'string') detail.code = e.code;
    if (typeof e.errno === 'number') detail.errno = e.errno;
    if (typeof e.syscall === 'string') detail.syscall = e.syscall;
    if (typeof e.hostname === 'string') detail.hostname = e.hostname;
    else if (typeof e.address === 'string') detail.hostname = e.address;
    current = e.cause ?? (Array.isArray(e.errors) ? (e.errors as unknown[])[0] : undefined);
  }
  detail.err = messages.join(': ') || 'unknown error';
  const status = /Unexpected server response: (\d{3})/.exec(detail.err)?.[1];
  if (status !== undefined) detail.statusCode = Number(status);
  return detail;
}
