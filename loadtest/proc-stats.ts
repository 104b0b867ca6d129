/**
 * Per-process CPU and memory from /proc (Linux), the load average, and a description of the
 * machine for the report.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

export const CLK_TCK = clockTicks();

export interface CpuTimes {
  readonly user: number;
  readonly system: number;
}

/**
 * User and system CPU seconds of `pid` so far (/proc/<pid>/stat utime, stime); undefined if gone.
 * On loopback the kernel does much of the RECEIVING side's TCP work in the sender's context, so
 * system time lands on whoever writes: read it as "kernel work caused by this process".
 */
export function cpuTimes(pid: number): CpuTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / CLK_TCK, system: Number(fields[12]) / CLK_TCK };
  } catch {
    return undefined;
  }
}

export function cpuSeconds(pid: number): number | undefined {
  const t = cpuTimes(pid);
  return t === undefined ? undefined : t.user + t.system;
}

export interface Memory {
  readonly rssKB: number;
  /** Peak RSS (VmHWM). */
  readonly hwmKB: number;
}

export function memory(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKB: kb('VmRSS'), hwmKB: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** /proc/loadavg: the 1, 5 and 15 minute load averages and running/total tasks. */
export function loadAverage(): { readonly one: number; readonly five: number; readonly fifteen: number; readonly raw: string } {
  let raw = '';
  try {
    raw = readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {
    raw = os.loadavg().join(' ');
  }
  const [one, five, fifteen] = raw.split(/\s+/).map(Number);
  return { one, five, fifteen, raw };
}

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGB: number;
  readonly kernel: string;
  readonly node: string;
  readonly hostname: string;
  readonly openFileLimit: string;
  readonly ephemeralPorts: string;
  readonly date: string;
}

export function describeMachine(): Machine {
  const read = (p: string, re: RegExp): string => {
    try {
      return re.exec(readFileSync(p, 'utf8'))?.[1]?.trim() ?? '?';
    } catch {
      return '?';
    }
  };
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    hostname: os.hostname(),
    openFileLimit: read('/proc/self/limits', /^Max open files\s+(\S+\s+\S+)/m).replace(/\s+/, ' soft / ') + ' hard',
    ephemeralPorts: read('/proc/sys/net/ipv4/ip_local_port_range', /([\s\S]*)/).replace(/\s+/, '-'),
    date: new Date().toISOString(),
  };
}
