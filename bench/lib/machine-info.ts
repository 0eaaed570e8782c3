import os from 'node:os';
import pg from 'pg';
import { Redis } from 'ioredis';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly ramGiB: number;
  readonly os: string;
  readonly node: string;
  readonly date: string;
  /** 1/5/15-minute load averages when the run began: other work on the machine skews figures. */
  readonly loadAtStart: string;
  readonly redis: string;
  readonly postgres: string;
}

/** Redis version and persistence: a peer on Redis without persistence is not durable. */
async function describeRedis(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    const save = ((await client.config('GET', 'save')) as string[])[1] ?? '?';
    const aof = ((await client.config('GET', 'appendonly')) as string[])[1] ?? '?';
    const persistence = save === '' && aof === 'no' ? 'no persistence' : `save "${save}", appendonly ${aof}`;
    return `Redis ${version} (${persistence})`;
  } catch (error) {
    return `Redis unavailable (${String(error)})`;
  } finally {
    client.disconnect();
  }
}

async function describePostgres(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const version = (await client.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?';
    const fsync = (await client.query<{ v: string }>("select current_setting('fsync') as v")).rows[0]?.v ?? '?';
    const commit = (await client.query<{ v: string }>("select current_setting('synchronous_commit') as v")).rows[0]?.v ?? '?';
    return `PostgreSQL ${version} (fsync ${fsync}, synchronous_commit ${commit})`;
  } catch (error) {
    return `PostgreSQL unavailable (${String(error)})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function loadAverage(): string {
  return os.loadavg().map((n) => n.toFixed(2)).join(' / ');
}

export async function describeMachine(redisUrl: string, postgresAdminUrl: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
    loadAtStart: loadAverage(),
    redis: await describeRedis(redisUrl),
    postgres: await describePostgres(postgresAdminUrl),
  };
}
