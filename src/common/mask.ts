/** `abcd…wxyz`-style masking for keys and secrets in logs and status output. */
export function maskSecret(value: string | undefined): string {
  if (!value) return '';
  if (value.length <= 8) return '…';
  return `${value.slice(0, 4)}…`;
}

/** A URL without credentials or query string, safe to log. */
export function safeUrl(url: URL | string): string {
  const parsed = new URL(String(url));
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  return parsed.toString();
}
