import WebSocket from 'ws';
import { Surreal, createRemoteEngines } from 'surrealdb';
import { createNodeEngines } from '@surrealdb/node';
import { startSurrealServer } from '../harness/data/surreal-server.ts';
import type { BenchResult } from './types.ts';

/**
 * The embedded SurrealDB server's cost: the same queries through the official SDK, once over
 * the network (WebSocket → our server layer → engine) and once against the engine in-process
 * (SDK → @surrealdb/node directly). Both sides pay the SDK's own CBOR work, so the difference
 * is the WebSocket hop plus our server layer. Target: ≤ 0.3 ms added at p50 per query.
 */
const ROOT = { username: 'root', password: 'bench-root-pw' };
const TARGET_MS = 0.3;

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeEach(n: number, warmup: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

async function prepare(db: Surreal): Promise<void> {
  await db.query('DEFINE TABLE IF NOT EXISTS bench SCHEMALESS; UPSERT bench:1 SET name = "one", n = 1, tags = ["a", "b"]');
}

const rows = (k: number) => Array.from({ length: 100 }, (_, i) => ({ batch: k, i, name: `row-${k}-${i}`, score: i * 1.5, tags: ['x', 'y'] }));

export async function run(): Promise<BenchResult[]> {
  const selects = Number(process.env.BENCH_SURREAL_SELECTS ?? 1500);
  const inserts = Number(process.env.BENCH_SURREAL_INSERTS ?? 200);

  // the server layer's own time per frame: arrival → reply handed to the socket, minus the engine call
  let layer: number[] | undefined;
  const server = await startSurrealServer({
    credentials: ROOT,
    onFrameTiming: (t) => {
      if (layer && t.method === 'query') layer.push((t.totalNs - t.engineNs) / 1e6);
    },
  });
  const layerSel: number[] = [];
  const layerIns: number[] = [];
  const remote = new Surreal({ engines: createRemoteEngines(), websocketImpl: WebSocket as unknown as typeof globalThis.WebSocket });
  const local = new Surreal({ engines: createNodeEngines() });
  const extra: Surreal[] = [];
  try {
    await remote.connect(`${server.url.replace(/^http/, 'ws')}/rpc`, { namespace: 'bench', database: 'bench', authentication: ROOT, reconnect: false });
    await local.connect('mem://', { namespace: 'bench', database: 'bench' });
    await prepare(remote);
    await prepare(local);

    // interleave the two sides in rounds so machine noise hits both alike
    const selRemote: number[] = [];
    const selLocal: number[] = [];
    const rounds = 5;
    for (let r = 0; r < rounds; r++) {
      layer = layerSel;
      selRemote.push(...(await timeEach(selects / rounds, r === 0 ? 200 : 20, () => remote.query('SELECT * FROM bench:1'))));
      layer = undefined;
      selLocal.push(...(await timeEach(selects / rounds, r === 0 ? 200 : 20, () => local.query('SELECT * FROM bench:1'))));
    }
    const insRemote: number[] = [];
    const insLocal: number[] = [];
    let k = 0;
    for (let r = 0; r < rounds; r++) {
      layer = layerIns;
      insRemote.push(...(await timeEach(inserts / rounds, r === 0 ? 20 : 2, () => remote.query('INSERT INTO bench_rows $rows', { rows: rows(k++) }))));
      layer = undefined;
      insLocal.push(...(await timeEach(inserts / rounds, r === 0 ? 20 : 2, () => local.query('INSERT INTO bench_rows $rows', { rows: rows(k++) }))));
    }

    // throughput: 8 clients on 8 connections vs 1
    const throughput = async (clients: Surreal[], perClient: number) => {
      const t = process.hrtime.bigint();
      await Promise.all(clients.map(async (c) => {
        for (let i = 0; i < perClient; i++) await c.query('SELECT * FROM bench:1');
      }));
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      return (clients.length * perClient) / s;
    };
    for (let i = 0; i < 7; i++) {
      const c = new Surreal({ engines: createRemoteEngines(), websocketImpl: WebSocket as unknown as typeof globalThis.WebSocket });
      await c.connect(`${server.url.replace(/^http/, 'ws')}/rpc`, { namespace: 'bench', database: 'bench', authentication: ROOT, reconnect: false });
      extra.push(c);
    }
    const perClient = Math.max(50, Math.floor(selects / 4));
    const one = await throughput([remote], perClient);
    const eight = await throughput([remote, ...extra], perClient);

    const sr = p50(selRemote);
    const sl = p50(selLocal);
    const ir = p50(insRemote);
    const il = p50(insLocal);
    const verdict = (d: number) => (d <= TARGET_MS ? `within the ${TARGET_MS} ms target` : `OVER the ${TARGET_MS} ms target`);
    return [
      {
        name: 'surreal: simple select p50, SDK over WebSocket → embedded server',
        value: round(sr),
        unit: 'ms',
        baseline: { name: 'same query, SDK → engine in-process', value: round(sl) },
        ratio: round(sr / sl),
        note: `server layer + WebSocket add ${round(sr - sl)} ms at p50 (${verdict(sr - sl)}); n=${selRemote.length}`,
      },
      {
        name: 'surreal: 100-row INSERT p50, SDK over WebSocket → embedded server',
        value: round(ir),
        unit: 'ms',
        baseline: { name: 'same insert, SDK → engine in-process', value: round(il) },
        ratio: round(ir / il),
        note: `server layer + WebSocket add ${round(ir - il)} ms at p50 (${verdict(ir - il)}); n=${insRemote.length}`,
      },
      {
        name: "surreal: the server layer's own time per simple select frame p50 (arrival → reply handed to the socket, engine call excluded)",
        value: round(p50(layerSel)),
        unit: 'ms',
        baseline: { name: 'the whole round trip over WebSocket, p50', value: round(sr) },
        ratio: round(p50(layerSel) / sr),
        note: `${verdict(p50(layerSel))} for the server layer alone; n=${layerSel.length}`,
      },
      {
        name: "surreal: the server layer's own time per 100-row INSERT frame p50 (engine call excluded)",
        value: round(p50(layerIns)),
        unit: 'ms',
        baseline: { name: 'the whole round trip over WebSocket, p50', value: round(ir) },
        ratio: round(p50(layerIns) / ir),
        note: `${verdict(p50(layerIns))} for the server layer alone; the rest of the end-to-end difference is the WebSocket hop and the SDK's WebSocket engine; n=${layerIns.length}`,
      },
      {
        name: 'surreal: throughput, 8 concurrent clients (8 connections) → embedded server',
        value: Math.round(eight),
        unit: 'queries/s',
        baseline: { name: '1 client, sequential', value: Math.round(one) },
        ratio: round(eight / one),
        note: `${perClient} simple selects per client; one engine, one Node event loop`,
      },
    ];
  } finally {
    await Promise.all([remote, local, ...extra].map((c) => c.close().catch(() => {})));
    await server.close();
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// `npx tsx bench/surreal.bench.ts` runs it alone
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(JSON.stringify(r));
}
