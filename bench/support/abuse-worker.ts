/**
 * The two load processes of bench/abuse.bench.ts, both pinned to core 1 by the bench.
 * argv[2] = `legit <port> <sockets>`: opens that many server SDK sockets (each asks its data-sync,
 * then idles) and polls `GET /api/public/sdk/server/latest-all` at a steady pace. IPC commands:
 * `{ cmd: 'phase' }` starts a measurement phase, `{ cmd: 'report' }` answers its polling
 * latencies, `{ cmd: 'change', version }` posts a changed bootstrap and answers the time until every
 * socket got a frame.
 * argv[2] = `attack <port> <name>`: runs one attack until killed, at the lowest CPU priority (nice
 * 19); `{ cmd: 'report' }` answers what it sent and how the agent answered.
 */
import { request, Agent } from 'node:http';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { CLIENT_SECRET, RELAY_PROXY_KEY, SERVER_SECRET } from '../../test/support/sample-data.js';
import { tokenFor } from '../../test/support/sdk-socket.js';

type Command = { cmd: 'phase' } | { cmd: 'report' } | { cmd: 'change'; version: number; body: string } | { cmd: 'exit' };

const [role, portText, arg] = process.argv.slice(2);
const port = Number(portText);
const base = `http://127.0.0.1:${port}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * The legitimate load connects from other loopback addresses than the attacker (127.0.0.1): per
 * client bounds (the HTTP rate limit, WS_UPGRADES_PER_SECOND) then tell them apart, as they would
 * SDKs elsewhere from one attacker. The poller uses 127.0.0.2; the SDK sockets come from 20
 * addresses (127.0.0.2 to 127.0.0.21, 50 each for 1,000), as servers of several hosts would.
 */
const LEGIT_ADDRESS = '127.0.0.2';
const localAddress = role === 'legit' ? LEGIT_ADDRESS : undefined;
const socketAddress = (i: number): string | undefined => (role === 'legit' ? `127.0.0.${2 + (i % 20)}` : undefined);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** One HTTP request on a keep-alive agent; resolves with the status (0 on a transport error). */
function send(agent: Agent, method: string, path: string, headers: Record<string, string>, body?: Buffer | string, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { method, headers, agent, timeout: timeoutMs, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

// ---- legitimate load ----

async function legit(sockets: number): Promise<void> {
  const clients: { socket: WebSocket; arrived?: number }[] = [];
  const url = () => `ws://127.0.0.1:${port}/streaming?type=server&token=${tokenFor(SERVER_SECRET)}`;
  for (let i = 0; i < sockets; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, sockets - i) }, async (_, j) => {
        const socket = new WebSocket(url(), { perMessageDeflate: false, localAddress: socketAddress(i + j) });
        const client: { socket: WebSocket; arrived?: number } = { socket };
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.once('open', () => {
            socket.once('message', () => resolve());
            socket.send('{"messageType":"data-sync","data":{"timestamp":0}}');
          });
        });
        socket.on('message', () => (client.arrived ??= performance.now()));
        socket.on('error', () => undefined);
        clients.push(client);
      }),
    );
  }

  // The polling client: one keep-alive connection, a request every 20 ms (or as soon as the last
  // one answered, when slower).
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let latencies: number[] = [];
  let errors = 0;
  // Polls overlapping a change (bootstrap + fan-out to every socket, which also loads this
  // process) are left out: the change is measured on its own.
  let changes = 0;
  let changing = false;
  let overlapped = 0;
  let inFlightSince: number | null = null;
  void (async () => {
    for (;;) {
      const start = (inFlightSince = performance.now());
      const before = changes;
      const status = await send(agent, 'GET', '/api/public/sdk/server/latest-all', { authorization: SERVER_SECRET });
      inFlightSince = null;
      const ms = performance.now() - start;
      // A failed poll (timeout, reset) counts with the time it took: it was not served.
      if (status !== 200) errors++;
      if (status === 200 && (changing || changes !== before)) overlapped++;
      else latencies.push(ms);
      await sleep(Math.max(0, 20 - ms));
    }
  })();

  const admin = new Agent({ keepAlive: false });
  process.on('message', (message: Command) => {
    if (message.cmd === 'phase') {
      latencies = [];
      errors = 0;
      overlapped = 0;
    } else if (message.cmd === 'report') {
      // A poll still unanswered counts with the time it has waited so far.
      const sorted = [...latencies, ...(inFlightSince === null ? [] : [performance.now() - inFlightSince])].sort((a, b) => a - b);
      process.send?.({ polls: sorted.length, errors, overlapped, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: percentile(sorted, 100) });
    } else if (message.cmd === 'change') {
      void (async () => {
        changing = true;
        changes++;
        for (const c of clients) delete c.arrived;
        const open = clients.filter((c) => c.socket.readyState === WebSocket.OPEN);
        const t0 = performance.now();
        const status = await send(admin, 'POST', '/api/public/proxy/bootstrap', { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' }, message.body);
        const deadline = t0 + 10_000;
        while (open.some((c) => c.arrived === undefined) && performance.now() < deadline) await sleep(2);
        const arrived = open.filter((c) => c.arrived !== undefined).map((c) => c.arrived! - t0);
        changing = false;
        process.send?.({ status, open: open.length, reached: arrived.length, maxMs: arrived.length ? Math.max(...arrived) : Number.NaN });
      })();
    } else process.exit(0);
  });
  process.send?.({ ready: true, sockets: clients.length });
}

// ---- attacks ----

const statuses = new Map<string, number>();
let sent = 0;
const count = (status: number | string) => {
  sent++;
  statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1);
};

/** `concurrency` loops each sending requests back to back. */
function flood(concurrency: number, next: (agent: Agent) => Promise<number>): void {
  for (let i = 0; i < concurrency; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    void (async () => {
      for (;;) count(await next(agent));
    })();
  }
}

/** A forged secret: 22 arbitrary characters and the compact env id of the public client secret. */
const FORGED = `${'Z'.repeat(22)}${CLIENT_SECRET.slice(22)}`;

const ATTACKS: Record<string, () => void> = {
  /** Client latest-all whose user makes `^(a+)+$` / `^(\w+\s?)*$` backtrack. */
  redos: () => {
    let i = 0;
    flood(16, (agent) => {
      const email = `${'a'.repeat(34 + (i++ % 4000))}!`;
      const body = JSON.stringify({ keyId: `attacker-${i}`, name: 'a', customizedProperties: [{ name: 'email', value: email }, { name: 'bio', value: email }] });
      return send(agent, 'POST', '/api/public/sdk/client/latest-all', { authorization: CLIENT_SECRET, 'content-type': 'application/json' }, body);
    });
  },
  /** Control for `redos`: the same flood of client latest-all with ordinary users. */
  'client-flood': () => {
    let i = 0;
    flood(16, (agent) => {
      const body = JSON.stringify({ keyId: `user-${i++}`, name: 'u', customizedProperties: [{ name: 'email', value: `user${i}@example.com` }, { name: 'bio', value: 'hello there' }] });
      return send(agent, 'POST', '/api/public/sdk/client/latest-all', { authorization: CLIENT_SECRET, 'content-type': 'application/json' }, body);
    });
  },
  /** Insight track with a forged secret and a 30 MB name. */
  'insight-flood': () => {
    const body = Buffer.from(JSON.stringify([{ user: { keyId: 'forged', name: 'x'.repeat(30 * 1024 * 1024) }, variations: [], metrics: [] }]));
    flood(4, (agent) => send(agent, 'POST', '/api/public/insight/track', { authorization: FORGED, 'content-type': 'application/json' }, body));
  },
  /** A client socket (public secret) that never reads and keeps asking for its full payload. */
  'non-reading': () => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/streaming?type=client&token=${tokenFor(CLIENT_SECRET)}`, { perMessageDeflate: false });
    socket.on('error', () => undefined);
    socket.on('close', (code) => count(`close ${code}`));
    const ask = JSON.stringify({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'sloth', name: 's', customizedProperties: [] } } });
    socket.once('open', () => {
      // Stop reading: the kernel buffers fill and replies pile up in the agent.
      socket.pause();
      const timer = setInterval(() => {
        if (socket.readyState !== WebSocket.OPEN) return clearInterval(timer);
        if (socket.bufferedAmount > 1024 * 1024) return;
        for (let i = 0; i < 200; i++) socket.send(ask);
        sent += 200;
      }, 5);
    });
  },
  /** As many idle client sockets as the attacker can open (ATTACK_CONNECTIONS, default 10,000). */
  connections: () => {
    const target = Number(process.env['ATTACK_CONNECTIONS'] ?? 10_000);
    const sockets: WebSocket[] = [];
    void (async () => {
      while (sockets.length < target) {
        await Promise.all(
          Array.from({ length: 100 }, () =>
            new Promise<void>((resolve) => {
              const socket = new WebSocket(`ws://127.0.0.1:${port}/streaming?type=client&token=${tokenFor(CLIENT_SECRET)}`, { perMessageDeflate: false });
              sockets.push(socket);
              socket.once('open', () => {
                count('open');
                resolve();
              });
              socket.once('error', () => resolve());
              socket.once('close', (code) => {
                count(`close ${code}`);
                resolve();
              });
              socket.once('unexpected-response', (_req, res) => {
                count(`http ${res.statusCode}`);
                resolve();
              });
            }),
          ),
        );
      }
    })();
  },
  /** A client secret on the server endpoint (reads raw flags and segments on main). */
  'client-on-server': () => {
    flood(16, (agent) => send(agent, 'GET', '/api/public/sdk/server/latest-all', { authorization: CLIENT_SECRET }));
  },
  /** 60 MB bodies on SDK and OFREP endpoints. */
  oversized: () => {
    const name = 'x'.repeat(60 * 1024 * 1024);
    const bodies = [
      ['/api/public/sdk/client/latest-all', Buffer.from(JSON.stringify({ keyId: 'big', name }))],
      ['/ofrep/v1/evaluate/flags', Buffer.from(JSON.stringify({ context: { targetingKey: 'big', name } }))],
    ] as const;
    let i = 0;
    flood(4, (agent) => {
      const [path, body] = bodies[i++ % bodies.length]!;
      return send(agent, 'POST', path, { authorization: CLIENT_SECRET, 'content-type': 'application/json' }, body);
    });
  },
};

function attack(name: string): void {
  const run = ATTACKS[name];
  if (!run) throw new Error(`unknown attack ${name}; known: ${Object.keys(ATTACKS).join(', ')}`);
  // Lowest priority: the attacker shares core 1 with the legitimate load, whose latencies are the
  // measurement. It still gets every cycle the legitimate process leaves idle (most of them).
  // ATTACK_NICE=0 runs it as before, to compare.
  setPriority(Number(process.env['ATTACK_NICE'] ?? 19));
  process.on('message', (message: Command) => {
    if (message.cmd === 'report') process.send?.({ sent, statuses: Object.fromEntries(statuses) });
    else if (message.cmd === 'exit') process.exit(0);
  });
  run();
  process.send?.({ ready: true });
}

if (role === 'legit') await legit(Number(arg));
else if (role === 'attack') attack(arg ?? '');
else throw new Error(`unknown role ${role ?? ''}`);
