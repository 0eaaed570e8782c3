#!/usr/bin/env node
import { Command } from 'commander';
import { createClient } from '../client/index.js';
import { registerClientCommands } from './client-commands.js';
import { fail } from './errors.js';
import { registerServerCommands } from './server-commands.js';

const program = new Command();
program
  .name('offload')
  .description('Durable asynchronous work delivered as HTTP calls')
  .version('0.1.0')
  .option('--url <url>', 'Offload API base URL for client commands; OFFLOAD_URL', process.env.OFFLOAD_URL ?? 'http://127.0.0.1:8080')
  .option('--api-key <key>', 'API key for client commands; OFFLOAD_API_KEY', process.env.OFFLOAD_API_KEY)
  .addHelpText(
    'after',
    `
Examples:
  $ offload init && offload check --config offload.yaml
  $ offload serve --config offload.yaml
  $ offload status
  $ offload send emails --data '{"to":"ada@example.com"}'
  $ offload deadletters list emails
`,
  );

const url = () => program.opts<{ url: string }>().url;
const client = () => {
  const opts = program.opts<{ url: string; apiKey?: string }>();
  return createClient({ url: opts.url, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}) });
};

registerServerCommands(program);
registerClientCommands(program, client);

program.parseAsync(process.argv).catch((error: unknown) => fail(error, { url: url() }));
