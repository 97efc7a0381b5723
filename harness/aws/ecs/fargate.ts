import { ecsErrors } from './errors.ts';

/** Fargate's valid task-level cpu → memory (MiB) combinations (aws-semantics §2). */
const TABLE: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: range(1024, 4096, 1024),
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** "1 vCPU" → "1024", "0.5 vcpu" → "512", "1024" → "1024". Undefined stays undefined. */
export function normalizeCpu(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const s = String(v).trim();
  const m = /^(\d+(?:\.\d+)?)\s*vcpu$/i.exec(s);
  if (m) return String(Math.round(Number(m[1]) * 1024));
  if (/^\d+$/.test(s)) return s;
  throw ecsErrors.client(`Invalid 'cpu' setting for task.`);
}

/** "2 GB" → "2048", "2048" → "2048". */
export function normalizeMemory(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const s = String(v).trim();
  const m = /^(\d+(?:\.\d+)?)\s*gb$/i.exec(s);
  if (m) return String(Math.round(Number(m[1]) * 1024));
  if (/^\d+$/.test(s)) return s;
  throw ecsErrors.client(`Invalid 'memory' setting for task.`);
}

export function checkFargateSize(cpu: string | undefined, memory: string | undefined): void {
  if (cpu === undefined) throw ecsErrors.client(`Fargate requires that 'cpu' be defined at the task level.`);
  if (memory === undefined) throw ecsErrors.client(`Fargate requires that 'memory' be defined at the task level.`);
  const mems = TABLE[Number(cpu)];
  if (!mems || !mems.includes(Number(memory))) {
    throw ecsErrors.client('No Fargate configuration exists for given values.');
  }
}
