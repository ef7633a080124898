import { hash } from 'node:crypto';

/** bucket(key) of evaluation.md §6.1: |int32 LE of MD5(key)[0..3] / 2^31|, in [0, 1]. */
export function bucketOf(key: string): number {
  const digest = hash('md5', key, 'buffer');
  return Math.abs(digest.readInt32LE(0) / 0x80000000);
}

/** inRollout of §6.2: closed range, with the "everyone" and "no one" shortcuts (no hashing). */
export function inRollout(key: string, from: number, to: number): boolean {
  if (from === 0 && 1 - to < 0.00001) return true;
  if (from === 0 && to === 0) return false;
  const bucket = bucketOf(key);
  return from <= bucket && bucket <= to;
}
