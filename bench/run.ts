import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './types.ts';

/**
 * `npm run bench [-- name…]`: runs bench/*.bench.ts (each exports `run()`), prints a
 * markdown table per benchmark (value, baseline measured in the same run, ratio, target)
 * and merges them into bench/results.json (one entry per benchmark, with its time).
 */
const dir = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
const all: Record<string, BenchResult[] | { error: string }> = {};
let failed = 0;
for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, '');
  process.stdout.write(`\n### ${name}\n\n`);
  try {
    const mod = (await import(path.join(dir, f))) as { run: () => Promise<BenchResult[]> };
    const results = await mod.run();
    all[name] = results;
    process.stdout.write('| measure | value | baseline (same run) | ratio | target |\n|---|---|---|---|---|\n');
    for (const r of results) {
      const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)} ${r.unit}` : '';
      const ratio = r.ratio !== undefined ? `${r.ratio.toFixed(2)}×` : '';
      process.stdout.write(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmt(r.value)} ${r.unit} | ${base} | ${ratio} | ${r.target ?? ''} |\n`);
    }
  } catch (e) {
    failed++;
    all[name] = { error: String((e as Error)?.stack ?? e) };
    process.stdout.write(`failed: ${(e as Error).message}\n`);
  }
}
// merge: running one benchmark keeps the others' last results
const file = path.join(dir, 'results.json');
let previous: Record<string, unknown> = {};
try {
  previous = JSON.parse(fs.readFileSync(file, 'utf8')).results ?? {};
} catch {
  /* first run */
}
const stamped = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, { at: new Date().toISOString(), node: process.version, results: v }]));
fs.writeFileSync(file, JSON.stringify({ results: { ...previous, ...stamped } }, null, 2));
process.exit(failed ? 1 : 0);
