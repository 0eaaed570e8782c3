import { z } from 'zod';
import { isStoredName } from '../domain/message.js';

/**
 * Body of the operations on some messages (redrive, purge, redeliver): `{ ids }`, or none for
 * all of them. Ids Offload makes itself (a notification's) may be longer than the 200
 * characters a producer's may.
 */
export const idsInputSchema = z
  .object({ ids: z.array(z.string().refine(isStoredName, 'not a message id: 1-1000 printable ASCII characters without spaces')).min(1).max(10_000).optional() })
  .strict();
