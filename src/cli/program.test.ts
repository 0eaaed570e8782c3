import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from './program.js';

function everyCommand(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...everyCommand(c)]);
}

describe('offload --help', () => {
  it('every command has a description and an example', () => {
    const commands = everyCommand(createProgram({}));
    expect(commands.length).toBeGreaterThan(20);
    for (const command of commands) {
      expect(command.description(), command.name()).not.toBe('');
      let help = '';
      command.configureOutput({ writeOut: (text) => (help += text) });
      command.outputHelp();
      expect(help, `offload … ${command.name()} --help`).toMatch(/\nExamples?:\n {2}\$ offload /);
    }
  });

  it('every read command takes --json', () => {
    const reads = ['status', 'list', 'show'];
    for (const command of everyCommand(createProgram({})).filter((c) => reads.includes(c.name()))) {
      expect(command.options.map((o) => o.long), command.name()).toContain('--json');
    }
  });
});
