import { randomBytes } from 'node:crypto';

/**
 * JSON text that goes into an answer as it is: a message's data as the producer wrote it
 * (`1.0` stays `1.0`, 12345678901234567890 keeps its digits), not parsed and written again.
 * Only for text that is known to be one valid JSON value (stored data, checked at send).
 */
export class RawJson {
  constructor(readonly text: string) {}
}

// Stands in for raw text during JSON.stringify; the nonce makes it impossible to forge from input.
const MARK = `\u0000raw-json:${randomBytes(8).toString('hex')}:`;
const MARKED = new RegExp(`"${JSON.stringify(MARK).slice(1, -1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(\\d+)"`, 'g');

/** JSON.stringify, with each RawJson written as its text. */
export function stringifyReply(payload: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(payload, (_key, value: unknown) => {
    if (!(value instanceof RawJson)) return value;
    raws.push(value.text);
    return `${MARK}${raws.length - 1}`;
  });
  return raws.length === 0 ? text : text.replace(MARKED, (_, i: string) => raws[Number(i)]!);
}
