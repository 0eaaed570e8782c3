/**
 * Polls `condition` until it holds, for waits on another process, a real server or a worker
 * thread, where there is no event to await. Rejects after `timeoutMs`, naming `what` it waited for.
 */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
