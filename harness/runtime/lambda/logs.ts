import { randomBytes } from 'node:crypto';

/** Lambda's log stream name: `YYYY/MM/DD/[<version>]<32 hex>` (UTC date of the environment's start). */
export function logStreamName(version: string, at = new Date()): string {
  const d = at.toISOString().slice(0, 10).replace(/-/g, '/');
  return `${d}/[${version}]${randomBytes(16).toString('hex')}`;
}

/** An X-Ray trace header as Lambda passes it (Lambda-Runtime-Trace-Id / _X_AMZN_TRACE_ID). */
export function traceHeader(now = Date.now()): string {
  const epoch = Math.floor(now / 1000).toString(16).padStart(8, '0');
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}

const ms = (v: number) => v.toFixed(2);

export interface ReportFields {
  requestId: string;
  durationMs: number;
  memorySize: number;
  maxMemoryUsedMb: number;
  initDurationMs?: number;
  /** 'timeout' or 'error' (with errorType), as the REPORT line says for a failed invoke */
  status?: { status: 'timeout' } | { status: 'error'; errorType: string };
}

/**
 * The platform's REPORT line, tab-separated as Lambda writes it. Billed Duration is rounded up
 * to the millisecond and, on a cold start, includes the init phase (billed since August 2025
 * for managed runtimes).
 */
export function reportLine(f: ReportFields): string {
  const billed = Math.ceil(f.durationMs) + (f.initDurationMs !== undefined ? Math.ceil(f.initDurationMs) : 0);
  const parts = [
    `REPORT RequestId: ${f.requestId}`,
    `Duration: ${ms(f.durationMs)} ms`,
    `Billed Duration: ${billed} ms`,
    `Memory Size: ${f.memorySize} MB`,
    `Max Memory Used: ${f.maxMemoryUsedMb} MB`,
  ];
  if (f.initDurationMs !== undefined) parts.push(`Init Duration: ${ms(f.initDurationMs)} ms`);
  if (f.status?.status === 'timeout') parts.push('Status: timeout');
  else if (f.status?.status === 'error') parts.push('Status: error', `Error Type: ${f.status.errorType}`);
  return `${parts.join('\t')}\t`;
}

/** The last `maxBytes` bytes of an invocation's log lines (Invoke's `--log-type Tail`), as text. */
export class TailCollector {
  private readonly lines: string[] = [];
  private bytes = 0;
  constructor(private readonly maxBytes = 4096) {}

  push(line: string): void {
    const l = `${line}\n`;
    this.lines.push(l);
    this.bytes += Buffer.byteLength(l);
    // keep a little more than the window; text() cuts exactly
    while (this.lines.length > 1 && this.bytes - Buffer.byteLength(this.lines[0]!) >= this.maxBytes) {
      this.bytes -= Buffer.byteLength(this.lines.shift()!);
    }
  }

  text(): string {
    const all = Buffer.from(this.lines.join(''));
    return all.subarray(Math.max(0, all.length - this.maxBytes)).toString('utf8');
  }
}
