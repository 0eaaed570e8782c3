import { ValidationError } from '../domain/errors.js';

/**
 * Reads a page cursor the stores give out: the key of the last row of the previous page, written
 * in decimal digits. None (undefined, null or '') is the first page; anything else that is not
 * such a number (`1e20`, `-1`, `0x10`, past 2^53) is refused alike on every store.
 */
export function parseRowCursor(cursor: string | null | undefined): number | undefined {
  if (cursor === undefined || cursor === null || cursor === '') return undefined;
  const key = /^[1-9][0-9]{0,15}$/.test(cursor) ? Number(cursor) : NaN;
  if (!Number.isSafeInteger(key)) throw new ValidationError('cursor is not one this server gave out; pass the `next` of the previous page', [{ path: 'cursor', message: 'not a cursor of this list' }]);
  return key;
}
