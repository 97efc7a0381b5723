// Asset store stub (port 8000, GET /health). Keeps assets behind the AssetStorage interface
// (lib/asset-storage.mjs): in SurrealDB at SURREAL_URL (HTTP /sql), else in memory. /health
// answers 503 while SurrealDB cannot be reached, so ECS replaces the task.
//   POST /assets (JSON object) → 201 {id, createdAt, …fields}
//   GET  /assets/:id           → 200 asset | 404
//   GET  /assets               → 200 {assets: [...]}
import { runService, HttpError } from './lib/service.mjs';
import { createAssetStorage } from './lib/asset-storage.mjs';

/** @type {import('./lib/asset-storage.mjs').AssetStorage | undefined} */
let storage;

await runService('asset-store', {
  routes: (ctx) => {
    const store = (storage = createAssetStorage(ctx.env, ctx.log));
    ctx.log(`asset storage: ${store.kind}`);
    return [
      {
        method: 'POST',
        path: '/assets',
        async handle(req) {
          const fields = await req.json();
          if (!fields || typeof fields !== 'object' || Array.isArray(fields)) {
            throw new HttpError(400, 'an asset is a JSON object');
          }
          return { status: 201, body: await store.create(/** @type {Record<string, unknown>} */ (fields)) };
        },
      },
      {
        method: 'GET',
        path: '/assets/:id',
        async handle(req) {
          const asset = await store.get(req.params.id);
          if (!asset) throw new HttpError(404, 'asset not found', { id: req.params.id });
          return { status: 200, body: asset };
        },
      },
      { method: 'GET', path: '/assets', handle: async () => ({ status: 200, body: { assets: await store.list() } }) },
    ];
  },
  onClose: () => storage?.close() ?? Promise.resolve(),
  health: () => storage?.health() ?? Promise.resolve({ ok: true }),
});
