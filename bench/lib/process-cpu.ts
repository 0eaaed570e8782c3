import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds (user + system) of one process, from /proc (Linux); 0 once it is gone. */
export function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of every PostgreSQL server process on this machine (the backends, the WAL writer,
 * the rest; the database must run here). A backend that exits between two readings takes its
 * seconds with it, so read it around work done on connections that stay open.
 */
export function postgresCpu(): number {
  let seconds = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (stat.includes('(postgres)')) seconds += cpuOf(Number(pid));
  }
  return seconds;
}
