// Analysis agent stub (port 8081, GET /health). Calls the context engine (CONTEXT_ENGINE_URL)
// and the Anthropic Messages API (ANTHROPIC_BASE_URL, default https://api.anthropic.com):
//   POST /api/analyze {prompt, model?} → {service, analysis, messageId, model, usage, requestId}
//        the API unreachable or answering an error → 502 {error, url, upstream?}; never a crash.
// Its health does not depend on the API.
import { runService, HttpError } from './lib/service.mjs';
import { analyzeWithClaude } from './lib/anthropic.mjs';

await runService('analysis-agent', {
  routes: (ctx) => [
    {
      method: 'POST',
      path: '/api/analyze',
      handle: async (req) => {
        const body = /** @type {any} */ (await req.json());
        if (!body || typeof body.prompt !== 'string' || body.prompt.trim() === '') throw new HttpError(400, 'prompt (a non-empty string) is required');
        if (body.model !== undefined && typeof body.model !== 'string') throw new HttpError(400, 'model must be a string');
        const timeoutMs = Number(ctx.env.ANTHROPIC_TIMEOUT_MS) > 0 ? Number(ctx.env.ANTHROPIC_TIMEOUT_MS) : Math.max(200, Math.floor(ctx.hopTimeoutMs * 0.8));
        const r = await analyzeWithClaude(ctx.env, body.prompt, { model: body.model, timeoutMs });
        ctx.log(`anthropic ${r.status === 200 ? `200 ${r.body.messageId} ${r.body.requestId ?? ''}` : `failed: ${r.body.error}`}`);
        return { status: r.status, body: { service: ctx.service, ...r.body } };
      },
    },
  ],
});
