import { describe, expect, it } from 'vitest';
import { openApiWarning } from './serve.js';

describe('serve', () => {
  it('warns when the API listens beyond loopback without API keys', () => {
    expect(openApiWarning({ host: '0.0.0.0', apiKeys: [] })).toMatch(/^the API listens on 0\.0\.0\.0 with no API keys: anyone who can reach it/);
    expect(openApiWarning({ host: '::', apiKeys: [] })).not.toBeNull();
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) expect(openApiWarning({ host, apiKeys: [] }), host).toBeNull();
    expect(openApiWarning({ host: '0.0.0.0', apiKeys: [{ key: 'k', role: 'operator' }] })).toBeNull();
  });
});
