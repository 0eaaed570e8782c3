import { describe, expect, it } from 'vitest';
import { CallAbort } from './call-signal.js';

describe('CallAbort', () => {
  it('runs each listener still added once, on the first abort only', () => {
    const signal = new CallAbort();
    const heard: string[] = [];
    const removed = () => heard.push('removed');
    signal.addEventListener('abort', () => heard.push('a'));
    signal.addEventListener('abort', removed);
    signal.addEventListener('abort', () => heard.push('b'), { once: true });
    signal.removeEventListener('abort', removed);
    expect(signal.aborted).toBe(false);
    signal.abort();
    signal.abort();
    expect(signal.aborted).toBe(true);
    expect(heard).toEqual(['a', 'b']);
  });
});
