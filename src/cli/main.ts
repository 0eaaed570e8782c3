#!/usr/bin/env node
import { fail } from './errors.js';
import { createProgram } from './program.js';

const program = createProgram();
program.parseAsync(process.argv).catch((error: unknown) => fail(error, { url: program.opts<{ url: string }>().url }));
