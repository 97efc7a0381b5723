// Where the asset store keeps assets. The HTTP layer (asset-store.mjs) only talks to the
// AssetStorage interface below, so a real backend plugs in without touching the routes.
import { randomUUID } from 'node:crypto';

/**
 * @typedef {{ id: string, createdAt: string, [field: string]: unknown }} Asset
 *
 * @typedef {object} AssetStorage
 * @property {string} kind                                   'memory' | 'surrealdb' (later)
 * @property {(fields: Record<string, unknown>) => Promise<Asset>} create   stores a new asset; assigns id + createdAt
 * @property {(id: string) => Promise<Asset | undefined>} get
 * @property {() => Promise<Asset[]>} list                  in creation order
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
    async close() {},
  };
}

/**
 * Picks the storage for this task from its environment.
 *
 * SEAM (SurrealDB): when SURREAL_URL is set, a later issue returns
 * `createSurrealAssetStorage(env.SURREAL_URL, …)` from here (same AssetStorage interface,
 * table `asset`). Until then the store keeps assets in memory and says so at start.
 * @param {Record<string, string | undefined>} env
 * @param {(line: string) => void} log
 * @returns {AssetStorage}
 */
export function createAssetStorage(env, log) {
  if (env.SURREAL_URL) {
    log('SURREAL_URL is set, but SurrealDB storage is not wired in yet: keeping assets in memory');
  }
  return createMemoryAssetStorage();
}
