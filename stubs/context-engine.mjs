// Context engine stub (port 8001, GET /health). Reads and writes assets through the asset
// store (ASSET_STORE_URL, default http://asset-store.escher.internal:8000):
//   GET /api/assets/:id → asset store GET /assets/:id
//   GET /api/assets     → asset store GET /assets
//   POST /api/assets    → asset store POST /assets
import { runService } from './lib/service.mjs';

await runService('context-engine', {
  routes: (ctx) => {
    const assetStore = () => ctx.dependencyUrl('ASSET_STORE_URL');
    return [
      { method: 'GET', path: '/api/assets/:id', handle: (req) => ctx.forward(assetStore(), `/assets/${encodeURIComponent(req.params.id)}`, req) },
      { method: 'GET', path: '/api/assets', handle: (req) => ctx.forward(assetStore(), '/assets', req) },
      { method: 'POST', path: '/api/assets', handle: (req) => ctx.forward(assetStore(), '/assets', req) },
    ];
  },
});
