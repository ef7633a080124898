import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OwnRedisSentinels } from '../support/redis-topologies.js';
import { AgentProcess } from '../support/agent-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { freshPrefix } from '../support/redis.js';
import { SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { Redis } from 'ioredis';
import { RedisInsightQueue } from '../../src/insights/redis-insight-queue.js';
import { entry, keys, storeClient } from './insight-queues.contract.js';

type Insight = { user?: { keyId: string } };

const PASSWORD = 'data-Secret-9';
const SENTINEL_PASSWORD = 'sentinel-Secret-3';

/** POSTs one batch of insights; the keys count as accepted only when the agent answers 200. */
async function post(agent: AgentProcess, keys: string[]): Promise<boolean> {
  const response = await fetch(`${agent.httpUrl}/api/public/insight/track`, {
    method: 'POST',
    headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
    body: JSON.stringify(keys.map((keyId) => ({ user: { keyId } }))),
    signal: AbortSignal.timeout(5000),
  }).catch(() => null);
  if (!response) return false;
  await response.arrayBuffer();
  return response.status === 200;
}

/** The insight keys held in the stream on `server`. */
async function streamKeys(server: Redis, key: string): Promise<string[]> {
  const rows = (await server.xrange(key, '-', '+')) as [string, string[]][];
  return rows.map(([, fields]) => (JSON.parse(fields[fields.indexOf('b') + 1] ?? '{}') as Insight).user?.keyId ?? '');
}

async function metric(agent: AgentProcess, name: string): Promise<number> {
  const text = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * `slowSentinelMs`: the pods name first a sentinel whose answers reach them that late (behind a
 * proxy). A pod reconnecting after the kill then spends most of the failover waiting for that
 * sentinel to name the master, and the sentinels' +switch-master arrives meanwhile.
 */
function describeFailover({ featbitUp, slowSentinelMs }: { featbitUp: boolean; slowSentinelMs?: number }): void {
  const slow = slowSentinelMs ? `; the first sentinel answers ${slowSentinelMs} ms late` : '';
  describe(`insight stream across a Sentinel failover (agent processes, REDIS_SENTINELS; FeatBit ${featbitUp ? 'taking insights throughout' : 'away until after the failover'}${slow})`, () => {
    let sentinels: OwnRedisSentinels;
    let fake: FakeFeatBitServer;
    let proxy: TcpProxy | undefined;
    let sentinelList = '';
    before(async () => {
      sentinels = await OwnRedisSentinels.start({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
      fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
      sentinelList = sentinels.sentinelList;
      if (slowSentinelMs) {
        proxy = await TcpProxy.start(sentinels.hostPorts[0]!.port, '127.0.0.1', { replyDelayMs: slowSentinelMs });
        sentinelList = `127.0.0.1:${proxy.port},${sentinelList}`;
      }
    });
    after(async () => {
      await proxy?.stop();
      await fake.stop();
      await sentinels.stop();
    });

    // A clean-clone CI run once saw 280 of 660 accepted insights undelivered here: exactly what one
    // pod accepted after the kill. ioredis had ended that pod's Sentinel connection for good (the
    // +switch-master arrived while it asked a sentinel for the master; see ReconnectingRedis), so
    // its write buffer never reached the new master. redis-sentinel.int-spec.ts hits that window
    // on purpose at the client; the slow-sentinel variant makes it likely for agent processes
    // (before the fix it lost everything both pods accepted after the kill).
    it('delivers every insight accepted with 200 before and during the failover (at least once), or counts it as dropped', async (t) => {
      const prefix = freshPrefix();
      const agents: AgentProcess[] = [];
      const accepted: string[] = [];
      let n = 0;
      const batch = (tag: string): string[] => Array.from({ length: 10 }, () => `${prefix}${tag}-${n++}`);
      const send = async (agent: AgentProcess, tag: string): Promise<void> => {
        const keys = batch(tag);
        if (await post(agent, keys)) accepted.push(...keys);
      };
      const delivered = (): string[] => fake.insights.flatMap((r) => (r.body as Insight[]).map((i) => i.user?.keyId ?? '')).filter((k) => k.startsWith(prefix));
      try {
        for (let i = 0; i < 2; i++) {
          agents.push(
            await AgentProcess.start({
              MODE: 'agent',
              STORE: 'redis',
              REDIS_SENTINELS: sentinelList,
              REDIS_SENTINEL_MASTER: sentinels.masterName,
              REDIS_PASSWORD: PASSWORD,
              REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
              REDIS_KEY_PREFIX: prefix,
              LEADER_LEASE_SECONDS: '1',
              REDIS_COMMAND_TIMEOUT_MS: '500',
              STREAMING_URI: fake.streamingUrl,
              EVENT_URI: fake.httpUrl,
              AGENT_ID: `insights-${i}`,
            }),
          );
        }
        for (const agent of agents) await agent.until(async () => (await agent.readiness())[0] === 200, 60_000);

        // FeatBit away: what is accepted before the failover waits in the stream on the master.
        // FeatBit up: batches are in flight and being acknowledged when the master dies.
        if (!featbitUp) fake.setInsightStatus(503);
        for (let round = 0; round < 10; round++) await send(agents[round % 2]!, 'before');
        // Every insight accepted so far has reached the master (delivered, or in the stream), and
        // then the replica: asynchronous replication loses what the replica has not received when
        // the master dies. Acknowledgements may still be in flight at the kill (FeatBit up).
        const master = sentinels.master.connect();
        let inStreamAtKill = 0;
        try {
          await agents[0]!.until(async () => {
            const reached = new Set([...delivered(), ...(await streamKeys(master, `${prefix}insights`))]);
            return accepted.every((k) => reached.has(k));
          }, 60_000);
          inStreamAtKill = await master.xlen(`${prefix}insights`);
        } finally {
          master.disconnect();
        }
        await sentinels.replicaInSync();

        // The master dies while both pods keep accepting insights.
        const killedAt = Date.now();
        let failing = true;
        const failover = sentinels.failover().finally(() => (failing = false));
        let during = 0;
        while (failing) {
          const before = accepted.length;
          await Promise.all(agents.map((agent) => send(agent, 'during')));
          during += accepted.length - before;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await failover;
        const failoverMs = Date.now() - killedAt;
        for (let round = 0; round < 4; round++) await send(agents[round % 2]!, 'after');

        fake.setInsightStatus(200);
        const releasedAt = Date.now();
        const dropped = async (): Promise<number> => {
          let sum = 0;
          for (const agent of agents) sum += (await metric(agent, 'featbit_agent_insights_dropped_total')) + (await metric(agent, 'featbit_agent_insights_lost_total'));
          return sum;
        };
        const missing = (): string[] => {
          const got = new Set(delivered());
          return accepted.filter((k) => !got.has(k));
        };
        // Generous: a pod backing off from FeatBit's 503s sleeps up to the 30 s backoff cap with its
        // batch pending; the wait ends as soon as everything is delivered or counted.
        const end = Date.now() + 75_000;
        while (missing().length > (await dropped()) && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 100));
        const deliveredMs = Date.now() - releasedAt;

        const seen = new Set<string>();
        const duplicates = delivered().filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
        t.diagnostic(
          `failover ${failoverMs} ms after the master was killed; accepted ${accepted.length} (${inStreamAtKill} in the stream at the kill, ${during} during the failover); ` +
            `all delivered ${deliveredMs} ms after FeatBit came back; lost ${missing().length}, counted dropped ${await dropped()}, delivered twice ${duplicates.length}`,
        );
        if (missing().length > 0) {
          // Where the missing ones are: in the stream on the new master (a forwarder stuck or pending
          // to it), or nowhere (never written, or lost by Redis); and what the pods logged.
          const newMaster = sentinels.replica.connect();
          try {
            const inStream = new Set(await streamKeys(newMaster, `${prefix}insights`));
            const pending = await newMaster.xpending(`${prefix}insights`, 'forwarders').catch((error: unknown) => String(error));
            const lost = missing();
            t.diagnostic(`missing ${lost.length}, of them in the stream ${lost.filter((k) => inStream.has(k)).length}; pending ${JSON.stringify(pending)}; e.g. ${lost.slice(0, 3).join(', ')}`);
          } finally {
            newMaster.disconnect();
          }
          agents.forEach((agent, i) => t.diagnostic(`agent ${i} logs (last 4000 characters):\n${agent.logs.slice(-4000)}`));
        }
        assert.ok(during > 0, 'no insight was accepted during the failover');
        assert.ok(missing().length <= (await dropped()), 'accepted insights neither delivered nor counted as dropped');
        // With the replica in sync at the kill nothing is lost at all.
        assert.deepEqual(missing(), []);
        assert.equal(await dropped(), 0);
      } finally {
        for (const agent of agents) await agent.kill();
      }
    });
  });
}

describeFailover({ featbitUp: false });
describeFailover({ featbitUp: true });
describeFailover({ featbitUp: true, slowSentinelMs: 1000 });

describe('insight stream across a graceful Sentinel failover (SENTINEL FAILOVER: the old master is demoted, not killed)', () => {
  let sentinels: OwnRedisSentinels;
  before(async () => {
    sentinels = await OwnRedisSentinels.start({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
  });
  after(async () => {
    await sentinels.stop();
  });

  // What a pod wrote to the old master after the promotion and before the sentinels demoted it is
  // acknowledged by Redis and then discarded when the old master resyncs as a replica
  // (asynchronous replication; WAIT cannot help once the replica has left). The test asserts
  // everything outside that window and reports the window's loss.
  it('follows the new master (no writes or reads stuck on the demoted one); nothing outside the promotion window is lost', async (t) => {
    const prefix = freshPrefix();
    const options = {
      url: '',
      sentinels: sentinels.hostPorts,
      sentinelMaster: sentinels.masterName,
      password: PASSWORD,
      sentinelPassword: SENTINEL_PASSWORD,
      keyPrefix: prefix,
      podId: 'pod',
      leaseMs: 1000,
      commandTimeoutMs: 500,
    };
    const [a, b] = [await storeClient(options), await storeClient(options)];
    const podA = new RedisInsightQueue(a, `${prefix}insights`, 'pod-a', 100_000);
    const podB = new RedisInsightQueue(b, `${prefix}insights`, 'pod-b', 100_000);
    const sentinel = new Redis({ ...sentinels.hostPorts[0]!, password: SENTINEL_PASSWORD, maxRetriesPerRequest: 1 });
    const pushed: string[] = [];
    let n = 0;
    const push = async (): Promise<void> => {
      const batch = Array.from({ length: 10 }, () => entry(n++));
      pushed.push(...batch.map((e) => (JSON.parse(e.body) as { user: { keyId: string } }).user.keyId));
      podA.push(batch.slice(0, 5));
      podB.push(batch.slice(5));
      await Promise.all([podA.flush(), podB.flush()]);
    };
    const must: string[] = [];
    try {
      for (let i = 0; i < 5; i++) await push();
      must.push(...pushed);
      await sentinels.replicaInSync();
      const oldMaster = sentinels.master.port;
      const startedAt = Date.now();
      await sentinel.call('SENTINEL', 'FAILOVER', sentinels.masterName);
      while ((await sentinels.masterPort()) === oldMaster) {
        await push();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const failoverMs = Date.now() - startedAt;
      // The demoted master is a replica now: a client still on it would get READONLY for good.
      const demoted = sentinels.master.connect();
      try {
        await new Promise<void>((resolve, reject) => {
          const end = Date.now() + 15_000;
          const check = async (): Promise<void> => {
            if (String(await demoted.info('replication')).includes('role:slave')) return resolve();
            if (Date.now() > end) return reject(new Error('old master not demoted'));
            setTimeout(() => void check().catch(reject), 100);
          };
          void check().catch(reject);
        });
      } finally {
        demoted.disconnect();
      }
      const inWindow = pushed.length - must.length;
      const afterFrom = pushed.length;
      for (let i = 0; i < 5; i++) await push();
      must.push(...pushed.slice(afterFrom));

      // Drain through pod B (its reads and acknowledgements are writes: they must reach the new master).
      const got: string[] = [];
      const end = Date.now() + 20_000;
      const done = (): boolean => {
        const have = new Set(got);
        return must.every((k) => have.has(k));
      };
      while (Date.now() < end) {
        const batch = await podB.take(100).catch(() => null);
        if (!batch) {
          if (done()) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        got.push(...keys(batch));
        await podB.ack(batch).catch(() => podB.release(batch));
      }
      const seen = new Set<string>();
      const twice = got.filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
      const lostInWindow = pushed.filter((k) => !seen.has(k)).length;
      t.diagnostic(
        `graceful failover ${failoverMs} ms; pushed ${pushed.length} (${inWindow} while the sentinels switched), taken ${got.length}, ` +
          `twice ${twice.length}, lost in the promotion window ${lostInWindow} (uncounted), counted dropped ${podA.dropped + podB.dropped}`,
      );
      assert.deepEqual(
        must.filter((k) => !seen.has(k)),
        [],
        'entries written before the failover (replica in sync) or after the demotion were lost',
      );
      assert.ok(lostInWindow <= inWindow);
    } finally {
      sentinel.disconnect();
      await podA.close();
      await podB.close();
      a.disconnect();
      b.disconnect();
    }
  });
});
