/** What the streaming benchmarks' SDK sockets send and whom they stand for. */

/** The user of client socket `i`: four properties, spread over countries, ages and domains. */
export function benchUser(i: number): Record<string, unknown> {
  return {
    keyId: `bench-user-${i}`,
    name: `User ${i}`,
    customizedProperties: [
      { name: 'country', value: ['us', 'ca', 'de', 'fr'][i % 4] },
      { name: 'age', value: String(10 + (i % 60)) },
      { name: 'email', value: `user${i}@${i % 3 === 0 ? 'example.com' : 'mail.org'}` },
      { name: 'company', value: ['acme', 'hooli', 'globex'][i % 3] },
    ],
  };
}

/** The data-sync an SDK sends first: server SDKs ask for everything; client SDKs bring their user. */
export function firstSync(type: 'server' | 'client', i: number): string {
  if (type === 'server') return '{"messageType":"data-sync","data":{"timestamp":0}}';
  return JSON.stringify({ messageType: 'data-sync', data: { timestamp: 0, user: benchUser(i) } });
}
