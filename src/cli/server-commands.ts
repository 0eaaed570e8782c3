import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { examples, wholeNumber } from './client-commands.js';

const defaultConfig = () => process.env.OFFLOAD_CONFIG ?? 'offload.yaml';

/**
 * Commands that run or prepare the service. The server half (Fastify, SQLite, PostgreSQL,
 * pino) is imported only when one of them runs, so client commands start fast.
 */
export function registerServerCommands(program: Command): void {
  examples(
    program
      .command('serve')
      .description('run Offload: the HTTP API, the dashboard and the dispatcher, until SIGTERM/SIGINT')
      .option('-c, --config <file>', 'configuration file (YAML or JSON); OFFLOAD_CONFIG', defaultConfig())
      .option('-p, --port <port>', 'port (overrides server.port)', wholeNumber)
      .option('--host <host>', 'interface to listen on (overrides server.host)')
      .option('--sqlite <path>', 'SQLite file (overrides storage)')
      .option('--postgres <url>', 'PostgreSQL URL (overrides storage)')
      .action(async (opts: { config: string; port?: number; host?: string; sqlite?: string; postgres?: string }) => {
        const [{ loadConfigFile }, { serve }] = await Promise.all([import('../config/load.js'), import('./serve.js')]);
        const config = loadConfigFile(opts.config, process.env, {
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.sqlite ? { sqlitePath: opts.sqlite } : {}),
          ...(opts.postgres ? { postgresUrl: opts.postgres } : {}),
        });
        await serve(config);
      }),
    'offload serve --config offload.yaml',
    'offload serve --config offload.yaml --port 8081 --postgres postgres://offload@db:5432/app',
  );

  examples(
    program
      .command('init [file]')
      .description('write a commented starter configuration with one queue, one fifo queue and one topic')
      .option('--force', 'overwrite the file if it exists')
      .action(async (file: string | undefined, opts: { force?: boolean }) => {
        const path = file ?? 'offload.yaml';
        if (existsSync(path) && !opts.force) throw new Error(`${path} already exists; pass --force to overwrite it`);
        const { STARTER_CONFIG } = await import('./starter-config.js');
        // A .json file gets the same configuration as JSON (without the YAML's comments).
        if (path.toLowerCase().endsWith('.json')) {
          const { parse } = await import('yaml');
          writeFileSync(path, `${JSON.stringify(parse(STARTER_CONFIG), null, 2)}\n`);
        } else writeFileSync(path, STARTER_CONFIG);
        console.log(`wrote ${path}; next: point endpoints.api.url at your API, then \`offload check --config ${path}\` and \`offload serve --config ${path}\``);
      }),
    'offload init',
    'offload init config/offload.yaml --force',
  );

  examples(
    program
      .command('check')
      .description('validate a configuration file without starting anything (exit 1 and the errors when invalid)')
      .option('-c, --config <file>', 'configuration file (YAML or JSON); OFFLOAD_CONFIG', defaultConfig())
      .option('--json', 'print the summary as JSON')
      .action(async (opts: { config: string; json?: boolean }) => {
        const { loadConfigFile } = await import('../config/load.js');
        const config = loadConfigFile(opts.config);
        const store = 'sqlite' in config.storage ? `SQLite ${config.storage.sqlite.path}` : `PostgreSQL schema ${config.storage.postgres.schema}`;
        const summary = { config: config.source, valid: true, queues: [...config.queues.keys()], topics: [...config.topics.keys()], targets: config.targets.length, store };
        if (opts.json) return console.log(JSON.stringify(summary, null, 2));
        console.log(`${config.source} is valid: ${summary.queues.length} queue(s), ${summary.topics.length} topic(s), ${summary.targets} delivery target(s), store ${store}`);
      }),
    'offload check --config offload.yaml',
  );
}
