// Where the data API keeps assets. The routes (roles.mjs) only talk to the AssetStorage
// interface below, so a real backend plugs in without touching them.
//
// With a SurrealDB URL (the variable STUB_DATA_URL_ENV names, see contract.mjs), assets live in
// SurrealDB, spoken to over its HTTP /sql endpoint (the real protocol, no SDK: the stubs stay
// dependency-free plain .mjs), with the root credentials STUB_DATA_CREDENTIALS_ENV points at,
// in namespace SURREAL_NS / database SURREAL_DB (default escher / assets).
// Tables: asset (SCHEMAFULL: data FLEXIBLE object, createdAt datetime) and asset_event (one
// row per write, in the same transaction as the write, so a half-written asset cannot exist).
import { randomUUID } from 'node:crypto';
import { request, describeError } from './http-client.mjs';
import { HttpError } from './router.mjs';

/**
 * @typedef {{ id: string, createdAt: string, [field: string]: unknown }} Asset
 *
 * @typedef {object} AssetStorage
 * @property {string} kind                                   'memory' | 'surrealdb'
 * @property {(fields: Record<string, unknown>) => Promise<Asset>} create   stores a new asset; assigns id + createdAt
 * @property {(id: string) => Promise<Asset | undefined>} get
 * @property {() => Promise<Asset[]>} list                  in creation order
 * @property {() => Promise<{ ok: boolean, reason?: string }>} health   can the store serve right now?
 * @property {() => Promise<void>} close
 */

/** In-process storage: assets live as long as the task. @returns {AssetStorage} */
export function createMemoryAssetStorage() {
  /** @type {Map<string, Asset>} */
  const assets = new Map();
  return {
    kind: 'memory',
    async create(fields) {
      const { id: _ignored, createdAt: _ignored2, ...rest } = fields;
      const asset = { ...rest, id: `asset-${randomUUID()}`, createdAt: new Date().toISOString() };
      assets.set(asset.id, asset);
      return structuredClone(asset);
    },
    async get(id) {
      const a = assets.get(id);
      return a && structuredClone(a);
    },
    async list() {
      return [...assets.values()].map((a) => structuredClone(a));
    },
    async health() {
      return { ok: true };
    },
    async close() {},
  };
}

export const ASSET_SCHEMA = [
  'DEFINE TABLE IF NOT EXISTS asset SCHEMAFULL',
  'DEFINE FIELD IF NOT EXISTS data ON asset TYPE object FLEXIBLE',
  'DEFINE FIELD IF NOT EXISTS createdAt ON asset TYPE datetime',
  'DEFINE INDEX IF NOT EXISTS asset_created ON asset FIELDS createdAt',
  'DEFINE TABLE IF NOT EXISTS asset_event SCHEMAFULL',
  'DEFINE FIELD IF NOT EXISTS asset ON asset_event TYPE record<asset>',
  'DEFINE FIELD IF NOT EXISTS action ON asset_event TYPE string',
  'DEFINE FIELD IF NOT EXISTS at ON asset_event TYPE datetime',
].join(';\n');

const ASSET_FIELDS = 'record::id(id) AS id, data, createdAt';

/** A row of `asset` as the API shows it: the fields, then id and createdAt. @returns {Asset} */
function toAsset(/** @type {any} */ row) {
  return { ...(row.data ?? {}), id: String(row.id), createdAt: String(row.createdAt) };
}

/**
 * SurrealDB over HTTP /sql. Every call answers or throws HttpError: 503 when the database
 * cannot be reached (or refuses the credentials), 500 when a statement fails.
 * @param {{ url: string, username?: string, password?: string, namespace: string, database: string, timeoutMs: number }} cfg
 * @param {(line: string) => void} log
 * @returns {AssetStorage}
 */
export function createSurrealAssetStorage(cfg, log) {
  const base = cfg.url.replace(/\/+$/, '');
  const headers = {
    accept: 'application/json',
    'content-type': 'text/plain',
    'surreal-ns': cfg.namespace,
    'surreal-db': cfg.database,
    ...(cfg.username ? { authorization: `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64')}` } : {}),
  };
  let schemaReady = false;
  /** @type {Promise<void> | undefined} */
  let schemaPending;
  let closed = false;
  /** @type {NodeJS.Timeout | undefined} */
  let retryTimer;
  let lastProblem = '';

  const unavailable = (/** @type {string} */ why) => {
    schemaReady = false; // the database may come back empty (a restarted in-memory store)
    if (why !== lastProblem) log(`SurrealDB unavailable: ${why}`);
    lastProblem = why;
    return new HttpError(503, `SurrealDB unavailable: ${why}`, { database: redactUrl(base) });
  };

  /**
   * Runs SurrealQL; returns the statements' results, or throws.
   * @param {string} sql @param {Record<string, string>} [vars] URL variables ($name in the query)
   * @returns {Promise<any[]>}
   */
  async function query(sql, vars = {}) {
    const qs = new URLSearchParams(vars).toString();
    let res;
    try {
      res = await request(`${base}/sql${qs ? `?${qs}` : ''}`, { method: 'POST', headers, body: sql, timeoutMs: cfg.timeoutMs });
    } catch (err) {
      throw unavailable(describeError(err));
    }
    if (res.status === 401 || res.status === 403) throw unavailable(`HTTP ${res.status} (credentials refused)`);
    if (res.status >= 500) throw unavailable(`HTTP ${res.status}`);
    if (res.status !== 200 || !Array.isArray(res.json)) {
      const info = res.json && typeof res.json === 'object' ? /** @type {any} */ (res.json).information : undefined;
      throw new HttpError(500, `SurrealDB rejected the query: HTTP ${res.status}${info ? `: ${String(info).split('\n')[0]}` : ''}`);
    }
    if (lastProblem) {
      log('SurrealDB reachable again');
      lastProblem = '';
    }
    const failed = res.json.find((r) => r?.status !== 'OK' && !/not executed due to a failed transaction/.test(String(r?.result)));
    if (failed) throw new HttpError(500, `SurrealDB: ${String(failed.result)}`);
    return res.json.map((r) => r.result);
  }

  function ensureSchema() {
    if (schemaReady) return Promise.resolve();
    schemaPending ??= query(ASSET_SCHEMA)
      .then(() => {
        if (!schemaReady) log(`SurrealDB schema defined (ns ${cfg.namespace}, db ${cfg.database}, tables asset, asset_event)`);
        schemaReady = true;
      })
      .finally(() => {
        schemaPending = undefined;
      });
    return schemaPending;
  }

  // define the schema at start, retrying until the database answers
  const defineAtStart = () => {
    if (closed) return;
    ensureSchema().catch(() => {
      retryTimer = setTimeout(defineAtStart, 1000);
      retryTimer.unref();
    });
  };
  defineAtStart();

  return {
    kind: 'surrealdb',
    async create(fields) {
      await ensureSchema();
      const { id: _ignored, createdAt: _ignored2, ...rest } = fields;
      const id = `asset-${randomUUID()}`;
      // one transaction: the asset and its event are written together or not at all
      const results = await query(
        [
          'BEGIN TRANSACTION',
          `CREATE type::record('asset', $id) CONTENT { data: ${JSON.stringify(rest)}, createdAt: time::now() } RETURN ${ASSET_FIELDS}`,
          "CREATE asset_event CONTENT { asset: type::record('asset', $id), action: 'created', at: time::now() } RETURN NONE",
          'COMMIT TRANSACTION',
        ].join(';\n'),
        { id },
      );
      const row = results.flat().find((r) => r && typeof r === 'object' && 'createdAt' in r);
      if (!row) throw new HttpError(500, 'SurrealDB: CREATE returned no record');
      return toAsset(row);
    },
    async get(id) {
      await ensureSchema();
      const [rows] = await query(`SELECT ${ASSET_FIELDS} FROM type::record('asset', $id)`, { id });
      return Array.isArray(rows) && rows[0] ? toAsset(rows[0]) : undefined;
    },
    async list() {
      await ensureSchema();
      const [rows] = await query(`SELECT ${ASSET_FIELDS} FROM asset ORDER BY createdAt, id`);
      return (rows ?? []).map(toAsset);
    },
    async health() {
      try {
        await query('RETURN true');
        await ensureSchema();
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: err instanceof Error ? err.message : String(err) };
      }
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
    },
  };
}

/**
 * Picks the storage for the data role: SurrealDB when its URL is set, else memory (and it says
 * so). Never logs a credential, only where it came from.
 * @param {import('./contract.mjs').DataRole} data
 * @param {(line: string) => void} log
 * @returns {AssetStorage}
 */
export function createAssetStorage(data, log) {
  if (!data.url) {
    log(`${data.urlEnv} is not set: keeping assets in memory (they die with the task)`);
    return createMemoryAssetStorage();
  }
  const { username, password, source, problem } = data.credentials;
  if (problem) log(`SurrealDB credentials: ${problem}; connecting without credentials`);
  else if (!username) log(`SurrealDB credentials: ${source} not set; connecting without credentials`);
  log(`assets in SurrealDB at ${redactUrl(data.url)} (${data.urlEnv}; ns ${data.namespace}, db ${data.database}, user ${username ?? '<none>'} from ${source})`);
  return createSurrealAssetStorage(
    { url: data.url, username, password, namespace: data.namespace, database: data.database, timeoutMs: data.timeoutMs },
    log,
  );
}

/** A URL without its user-info part (a password there is still a secret). */
export function redactUrl(/** @type {string} */ url) {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '***';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@');
  }
}
