import { describe, expect, it } from 'vitest';
import { NotFoundError, StoreUnavailableError } from '../../domain/errors.js';
import { isUnavailable, mapError } from './connection.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('PostgreSQL error mapping', () => {
  it('treats connection failures, shutdowns, a full disk, I/O errors and read-only as unavailability', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P03', '57P04', '08006', '08001', '53300', '53100', '58030', '25006', '3D000', '28P01', '28000']) expect(isUnavailable(withCode(code))).toBe(true);
    expect(isUnavailable(withCode('55000', 'database "offload" is not currently accepting connections'))).toBe(true);
    expect(isUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailable(new AggregateError([withCode('ECONNREFUSED')], 'connect failed'))).toBe(true);
  });

  it('leaves errors about the data or the statement alone', () => {
    for (const code of ['23505', '42P01', '22P02', '40P01']) expect(isUnavailable(withCode(code))).toBe(false);
    expect(isUnavailable('not an error')).toBe(false);
  });

  it('wraps only unavailability, keeping the cause, and passes Offload errors through', () => {
    const refused = withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');
    const mapped = mapError(refused);
    expect(mapped).toBeInstanceOf(StoreUnavailableError);
    expect((mapped as StoreUnavailableError).cause).toBe(refused);
    const notFound = new NotFoundError('nope');
    expect(mapError(notFound)).toBe(notFound);
    const duplicate = withCode('23505');
    expect(mapError(duplicate)).toBe(duplicate);
  });
});
