/**
 * The entry point of the escher-harness/surrealdb image (bundled by surrealdb.ts into one
 * .mjs with esbuild): the embedded SurrealDB server (harness/data/surreal-server.ts, the real
 * @surrealdb/node engine) started with the official CLI's own arguments, so the container is
 * started exactly as the official image would be:
 *
 *   node /app/surrealdb-server.mjs start --bind 0.0.0.0:4000 --user root --pass … memory
 *   node /app/surrealdb-server.mjs start … surrealkv:///data/surrealdb
 *
 * With HARNESS_CONTROL_SOCKET set, an operator endpoint (HTTP on that unix socket, bind-mounted
 * from the harness host) offers what an operator on the database host has: POST /stop and
 * /start (stop serving / serve again, the datastore stays open, as the embedded server's
 * stop()/start()), POST /sql {query, namespace?, database?} (root, no network), GET /state.
 * SIGTERM/SIGINT close the datastore and exit 0.
 */
import fs from 'node:fs';
import http from 'node:http';
import { SurrealServer, describeStorage, type SurrealStorage } from '../../data/surreal-server.ts';

/** `start [--bind h:p] [--user u] [--pass p] [-u u] [-p p] [path]` (the subset the harness uses). */
export function parseStartArgs(argv: string[], env: NodeJS.ProcessEnv = {}): { host: string; port: number; username: string; password: string; storage: SurrealStorage } {
  const args = argv[0] === 'start' ? argv.slice(1) : argv;
  let bind = env.SURREAL_BIND ?? '0.0.0.0:8000';
  let username = env.SURREAL_USER ?? 'root';
  let password = env.SURREAL_PASS ?? '';
  let pathArg = env.SURREAL_PATH ?? 'memory';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--bind' || a === '-b') bind = val();
    else if (a === '--user' || a === '--username' || a === '-u') username = val();
    else if (a === '--pass' || a === '--password' || a === '-p') password = val();
    else if (a === '--log' || a === '-l') val();
    else if (a.startsWith('-')) throw new Error(`unsupported option ${a}`);
    else pathArg = a;
  }
  if (!password) throw new Error('--pass is required (root credentials)');
  const m = /^(.*):(\d+)$/.exec(bind);
  if (!m) throw new Error(`--bind must be host:port, got ${bind}`);
  let storage: SurrealStorage;
  if (pathArg === 'memory' || pathArg === 'mem://') storage = { kind: 'memory' };
  else {
    const s = /^(surrealkv|rocksdb):\/\/(.+)$/.exec(pathArg);
    if (!s) throw new Error(`storage must be memory, surrealkv://<dir> or rocksdb://<dir>, got ${pathArg}`);
    storage = { kind: s[1] as 'surrealkv' | 'rocksdb', path: s[2]! };
  }
  return { host: m[1]!, port: Number(m[2]), username, password, storage };
}

async function main(): Promise<void> {
  const o = parseStartArgs(process.argv.slice(2), process.env);
  if (o.storage.kind !== 'memory') fs.mkdirSync(o.storage.path, { recursive: true });
  const server = new SurrealServer({ host: o.host, port: o.port, credentials: { username: o.username, password: o.password }, storage: o.storage, log: (l) => console.log(l) });
  await server.start();

  const sock = process.env.HARNESS_CONTROL_SOCKET;
  let control: http.Server | undefined;
  if (sock) {
    fs.rmSync(sock, { force: true });
    control = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          try {
            let out: unknown;
            if (req.method === 'POST' && req.url === '/stop') out = (await server.stop(), { running: server.running });
            else if (req.method === 'POST' && req.url === '/start') out = (await server.start(), { running: server.running });
            else if (req.method === 'POST' && req.url === '/sql') {
              const b = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; namespace?: string; database?: string };
              out = await server.sql(b.query, { namespace: b.namespace, database: b.database });
            } else if (req.method === 'GET' && req.url === '/state') out = { running: server.running, storage: describeStorage(server.storage) };
            else {
              res.writeHead(404).end();
              return;
            }
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
          } catch (e) {
            res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as Error).message }));
          }
        })();
      });
    });
    await new Promise<void>((resolve, reject) => control!.once('error', reject).listen(sock, () => resolve()));
    fs.chmodSync(sock, 0o666);
  }

  let closing = false;
  const shutdown = (sig: string) => {
    if (closing) return;
    closing = true;
    console.log(`surrealdb: ${sig}, closing the datastore`);
    control?.close();
    void server.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// run only as the bundle's entry point (tests import parseStartArgs)
if (process.env.HARNESS_SURREAL_ENTRY === '1') {
  main().catch((e) => {
    console.error(`surrealdb: ${(e as Error).message}`);
    process.exit(1);
  });
}
