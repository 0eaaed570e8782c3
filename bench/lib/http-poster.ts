import { Pool } from 'undici';
import type { BenchMessage } from '../systems/bench-system.js';

/**
 * The job handler every peer runs: POST the message to the receiver over keep-alive
 * and resolve only on 2xx, so a job completes only when its delivery succeeded.
 */
export interface HttpPoster {
  post(path: string, message: BenchMessage): Promise<void>;
  close(): Promise<void>;
}

export function createHttpPoster(origin: string, connections: number): HttpPoster {
  const pool = new Pool(origin, { connections, keepAliveTimeout: 30_000, pipelining: 1 });
  return {
    async post(path, message) {
      const response = await pool.request({
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      // Drain the body so the socket goes back to the pool.
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode > 299) {
        throw new Error(`receiver answered ${response.statusCode} for ${message.id}`);
      }
    },
    async close() {
      await pool.close();
    },
  };
}
