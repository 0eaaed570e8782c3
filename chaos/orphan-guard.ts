/**
 * Preloaded into every Offload process the chaos runner starts. If the runner itself is
 * killed (SIGKILL leaves it no chance to clean up), its children are re-parented; this makes
 * them exit within a second instead of delivering for ever in the background.
 */
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
}, 1_000);
timer.unref();
