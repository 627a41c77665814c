/**
 * Linux process accounting from /proc: CPU seconds and resident memory of a process, whole-machine
 * CPU busy time, and a description of the machine. CPU shares are "of one core": 1.0 = one core
 * fully busy, up to the number of cores.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds a process has used (its threads included, its children not). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** The process and every process below it (mediasoup's workers are the server's children). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Busy and total jiffies of the whole machine (all cores). */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
  return { busy: total - idle, total };
}

/** UDP datagrams the kernel dropped because a socket's receive buffer was full (this network namespace). */
export function udpReceiveBufferDrops(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')]);
  } catch {
    return NaN;
  }
}

export interface ProcUsage {
  /** CPU used over the window, as a share of one core. */
  cpu: number;
  rssMeanMB: number;
  rssMaxMB: number;
}

export interface WindowUsage {
  seconds: number;
  /** Per watched process, by the name it was given. */
  procs: Record<string, ProcUsage>;
  /** Whole machine: busy share of all cores together (0..1), whoever used it. */
  machineBusy: number;
  /** 1-minute load average at the end of the window. */
  load1: number;
  /** UDP datagrams dropped by the kernel for full receive buffers during the window (every process: media packets lost before anyone read them). */
  udpDrops: number;
}

/**
 * Watches named processes over one measurement window: CPU from the difference of their
 * cumulative counters, resident memory sampled every `sampleMs`.
 */
export class UsageWindow {
  private readonly pids: Record<string, number>;
  private readonly cpu0: Record<string, number> = {};
  private readonly rss: Record<string, number[]> = {};
  private readonly t0 = performance.now();
  private readonly machine0 = machineJiffies();
  private readonly udp0 = udpReceiveBufferDrops();
  private readonly timer: NodeJS.Timeout;

  /** Named processes whose figures include every process below them, as found at the start. */
  private readonly trees: Record<string, number[]> = {};

  /** `trees`: names of `pids` to measure with their descendants (a server and its mediasoup workers). */
  constructor(pids: Record<string, number>, sampleMs = 500, trees: string[] = []) {
    this.pids = pids;
    for (const name of trees) if (pids[name] !== undefined) this.trees[name] = processTree(pids[name]!);
    for (const [name, pid] of Object.entries(pids)) {
      this.cpu0[name] = this.cpuOf(name, pid);
      this.rss[name] = [this.rssOf(name, pid)];
    }
    this.timer = setInterval(() => this.sample(), sampleMs);
  }

  private cpuOf(name: string, pid: number): number {
    return this.overTree(name, pid, cpuSeconds);
  }

  private rssOf(name: string, pid: number): number {
    return this.overTree(name, pid, rssBytes);
  }

  /** `read` of the process, or summed over its tree when it is watched as one. */
  private overTree(name: string, pid: number, read: (pid: number) => number): number {
    const tree = this.trees[name];
    if (!tree) return read(pid);
    let sum = 0;
    for (const p of tree) {
      try {
        sum += read(p);
      } catch {
        // a process below ended; its share is lost to the sum
      }
    }
    return sum;
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      try {
        this.rss[name]!.push(this.rssOf(name, pid));
      } catch {
        // the process ended; stop() reports what was seen
      }
    }
  }

  stop(): WindowUsage {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.t0) / 1000;
    const procs: Record<string, ProcUsage> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      let used = NaN;
      try {
        used = this.cpuOf(name, pid) - this.cpu0[name]!;
      } catch {
        // ended
      }
      const rss = this.rss[name]!.filter(Number.isFinite);
      procs[name] = {
        cpu: used / seconds,
        rssMeanMB: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length) / 2 ** 20,
        rssMaxMB: Math.max(...rss) / 2 ** 20,
      };
    }
    const m1 = machineJiffies();
    const machineBusy = (m1.busy - this.machine0.busy) / Math.max(1, m1.total - this.machine0.total);
    return { seconds, procs, machineBusy, load1: loadavg()[0]!, udpDrops: udpReceiveBufferDrops() - this.udp0 };
  }
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGB: number;
  node: string;
  platform: string;
  kernel: string;
  /** NVIDIA cards, as nvidia-smi names them (absent without one). */
  gpu?: string;
  loadAtStart: number[];
}

function gpuName(): string | undefined {
  try {
    const names = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return names ? names.split('\n').map((n) => n.trim()).join(', ') : undefined;
  } catch {
    return undefined;
  }
}

export function machineInfo(): MachineInfo {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux
  }
  const gpu = gpuName();
  return {
    cpuModel,
    cores: cpus().length,
    ramGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel,
    ...(gpu ? { gpu } : {}),
    loadAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/**
 * Waits until the 1-minute load average is at most `maxLoad`, checking every `stepS` seconds, for
 * at most `maxWaitS`. Returns the load it settled for (measurements then go ahead regardless, and
 * the report says under what load they ran).
 */
export async function waitForQuiet(maxLoad: number, maxWaitS: number, say: (msg: string) => void, stepS = 60): Promise<number> {
  const end = Date.now() + maxWaitS * 1000;
  for (;;) {
    const l = loadavg()[0]!;
    if (l <= maxLoad) return l;
    if (Date.now() >= end) {
      say(`load ${l.toFixed(2)} still above ${maxLoad} after waiting ${maxWaitS} s: measuring anyway`);
      return l;
    }
    say(`1-minute load ${l.toFixed(2)} > ${maxLoad}: waiting ${stepS} s`);
    await new Promise((r) => setTimeout(r, stepS * 1000));
  }
}

/** Calls `fn` with each complete line a child writes (the children speak JSON, one message a line). */
export function onLines(stream: Readable, fn: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', fn);
}

/**
 * CPU pinning for the analyzer section's `--analyzer-cpus`: the analyzer on `analyzer` (a taskset
 * list such as "0" or "0-1"), the server and the callers on every other CPU of this machine, so
 * the analyzer's CPU per stream is measured on cores nobody else uses (what a dedicated analyzer
 * host sees) rather than inflated by the callers' encoders competing for the same caches and cores.
 */
export interface CpuPinning {
  analyzer: string;
  others: string;
  /** How many CPUs the analyzer has: its ANALYZER_CORES, which sizes its onnxruntime threads. */
  analyzerCount: number;
}

export function cpuPinning(list: string, cpus = availableParallelism()): CpuPinning {
  const mine = new Set<number>();
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`--analyzer-cpus: "${part}" is not a CPU number or range (e.g. 0 or 0-1)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi >= cpus) throw new Error(`--analyzer-cpus: "${part}" is outside this machine's CPUs 0-${cpus - 1}`);
    for (let c = lo; c <= hi; c++) mine.add(c);
  }
  const others = Array.from({ length: cpus }, (_, c) => c).filter((c) => !mine.has(c));
  if (others.length === 0) throw new Error(`--analyzer-cpus: "${list}" leaves no CPU for the server and the callers`);
  return { analyzer: [...mine].sort((a, b) => a - b).join(','), others: others.join(','), analyzerCount: mine.size };
}

/** `argv` run pinned to `cpus` with taskset (util-linux), or as it is when `cpus` is undefined. */
export function pinned(cpus: string | undefined, argv: [string, ...string[]]): [string, string[]] {
  if (cpus === undefined) return [argv[0], argv.slice(1)];
  if (!existsSync(TASKSET)) throw new Error(`CPU pinning needs ${TASKSET} (Debian package util-linux)`);
  return [TASKSET, ['-c', cpus, ...argv]];
}
const TASKSET = '/usr/bin/taskset';
