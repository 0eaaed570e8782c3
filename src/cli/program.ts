import { Command } from 'commander';
import { createClient } from '../client/index.js';
import { registerClientCommands } from './client-commands.js';
import { registerServerCommands } from './server-commands.js';

/** The `offload` program with every command; main.ts parses the process's arguments with it. */
export function createProgram(env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command();
  program
    .name('offload')
    .description('Durable asynchronous work delivered as HTTP calls')
    .version('0.1.0')
    .option('--url <url>', 'Offload API base URL for client commands; OFFLOAD_URL', env.OFFLOAD_URL ?? 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'API key for client commands; OFFLOAD_API_KEY', env.OFFLOAD_API_KEY)
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
  const client = () => {
    const opts = program.opts<{ url: string; apiKey?: string }>();
    return createClient({ url: opts.url, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}) });
  };
  registerServerCommands(program);
  registerClientCommands(program, client);
  return program;
}
