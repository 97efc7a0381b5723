// The analysis role's Anthropic Messages API client (Node built-ins only), as the Anthropic
// SDK would be configured: base URL from ANTHROPIC_BASE_URL (default below), the key from the
// variable STUB_ANTHROPIC_KEY_ENV names, `anthropic-version: 2023-06-01`. TLS trust is the
// process's (NODE_EXTRA_CA_CERTS adds a CA). The key is never logged or returned.
//
//   ANTHROPIC_MODEL       default claude-sonnet-4-5
//   ANTHROPIC_TIMEOUT_MS  default the time budget a calling stub passed on (less than its own wait),
//                         else 80% of STUB_HOP_TIMEOUT_MS
import { request, describeError } from './http-client.mjs';

export const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MODEL = 'claude-sonnet-4-5';

/**
 * Asks the Messages API for an analysis of `prompt`.
 * @param {Record<string, string | undefined>} env   ANTHROPIC_BASE_URL, ANTHROPIC_MODEL
 * @param {string} keyEnv                             the name of the variable holding the key
 * @param {string} prompt
 * @param {{ model?: string, maxTokens?: number, timeoutMs: number }} opts
 * @returns {Promise<{ status: number, body: Record<string, unknown> }>} 200 with the analysis, or 502 saying why not
 */
export async function analyzeWithClaude(env, keyEnv, prompt, opts) {
  const base = (env.ANTHROPIC_BASE_URL || DEFAULT_ANTHROPIC_BASE_URL).replace(/\/+$/, '');
  const url = `${base}/v1/messages`;
  const model = opts.model || env.ANTHROPIC_MODEL || DEFAULT_MODEL;
  const key = env[keyEnv];
  if (!key) {
    return { status: 502, body: { error: `${keyEnv} is not set: this service cannot call the Anthropic API`, url } };
  }
  /** @type {import('./http-client.mjs').HopResponse} */
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      headers: { 'x-api-key': key, 'anthropic-version': ANTHROPIC_VERSION },
      body: { model, max_tokens: opts.maxTokens ?? 1024, messages: [{ role: 'user', content: prompt }] },
      timeoutMs: opts.timeoutMs,
    });
  } catch (err) {
    return { status: 502, body: { error: `cannot reach the Anthropic API at ${url}: ${describeError(err)}`, url } };
  }
  const requestId = typeof res.headers['request-id'] === 'string' ? res.headers['request-id'] : undefined;
  const json = /** @type {any} */ (res.json);
  if (res.status !== 200) {
    const type = json?.error?.type ?? 'unknown';
    const message = json?.error?.message ?? res.text.slice(0, 200);
    return {
      status: 502,
      body: { error: `the Anthropic API answered ${res.status} ${type}: ${message}`, url, upstream: { status: res.status, type, message, requestId } },
    };
  }
  const text = Array.isArray(json?.content) ? json.content.filter((b) => b?.type === 'text').map((b) => b.text).join('') : undefined;
  if (typeof text !== 'string' || typeof json?.id !== 'string') {
    return { status: 502, body: { error: 'the Anthropic API answered 200 without a text message', url, upstream: { status: 200, requestId } } };
  }
  return {
    status: 200,
    body: { analysis: text, messageId: json.id, model: json.model, stopReason: json.stop_reason, usage: json.usage, requestId },
  };
}
