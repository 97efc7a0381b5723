import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/**
 * The real SurrealDB engine from `@surrealdb/node` (prebuilt N-API binaries), below the SDK:
 * `SurrealNodeEngine.connect(url)` opens a datastore (`mem://`, `surrealkv://<dir>`,
 * `rocksdb://<dir>`); `execute(cbor)` runs one CBOR RPC frame `{id, method, params, session,
 * txn}` and answers the bare result or `{error}`; `notifications()` streams live-query
 * notifications of every session. The package exports only the SDK adapter (NodeEngine), so
 * the binding is loaded the way its own loader does it.
 */
export interface NativeEngine {
  execute(frame: Uint8Array): Promise<Uint8Array>;
  notifications(): Promise<NativeNotificationReceiver>;
  import(sql: string): Promise<void>;
  export(options: Uint8Array): Promise<string>;
  free(): void;
}

export interface NativeNotificationReceiver {
  /** the next notification (CBOR `{id, action, record, result}`), or null once the engine is freed */
  recv(): Promise<Uint8Array | null>;
}

export interface NativeEngineClass {
  connect(url: string, options?: unknown): Promise<NativeEngine>;
  version(): Promise<string>;
}

let cached: NativeEngineClass | undefined;

function isMusl(): boolean {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    const report = (process.report?.getReport?.() ?? {}) as { header?: { glibcVersionRuntime?: string } };
    return !report.header?.glibcVersionRuntime;
  }
}

function bindingFile(): string {
  const { platform, arch } = process;
  if (platform === 'linux') return `surrealdb-node.linux-${arch}-${isMusl() ? 'musl' : 'gnu'}.node`;
  if (platform === 'win32') return `surrealdb-node.win32-${arch}-msvc.node`;
  return `surrealdb-node.${platform}-${arch}.node`;
}

/** The engine class of the installed `@surrealdb/node`; throws a clear error when it is missing. */
export function loadNativeEngine(): NativeEngineClass {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const candidates = require.resolve.paths('@surrealdb/node') ?? [];
  const file = bindingFile();
  for (const dir of candidates) {
    const p = path.join(dir, '@surrealdb', 'node', 'dist', file);
    if (fs.existsSync(p)) {
      const binding = require(p) as { SurrealNodeEngine: NativeEngineClass };
      cached = binding.SurrealNodeEngine;
      return cached;
    }
  }
  throw new Error(`the SurrealDB engine is not installed: no @surrealdb/node/dist/${file} (npm install @surrealdb/node@3.0.3)`);
}
