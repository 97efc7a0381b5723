import { describe, expect, it } from 'vitest';
import { getResponse } from 'msw';
import { anthropicHandlers, newAnthropicId, standInText } from './handlers.ts';

const KEY = 'sk-ant-test-key';
let n = 0;
const handlers = anthropicHandlers({ validKeys: () => [KEY], newId: (p) => `${p}_test${++n}` });

const GOOD_HEADERS = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const GOOD_BODY = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Summarise the asset inventory' }] };

async function call(opts: { path?: string; method?: string; headers?: Record<string, string>; body?: unknown; raw?: string } = {}) {
  const req = new Request(`https://api.anthropic.com${opts.path ?? '/v1/messages'}`, {
    method: opts.method ?? 'POST',
    headers: opts.headers ?? GOOD_HEADERS,
    ...((opts.method ?? 'POST') === 'GET' ? {} : { body: opts.raw ?? JSON.stringify(opts.body ?? GOOD_BODY) }),
  });
  const res = (await getResponse(handlers, req))!;
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

describe('Anthropic Messages API stand-in handlers', () => {
  it('answers a valid request with a Message whose text is derived from the prompt', async () => {
    const r = await call();
    expect(r.status).toBe(200);
    expect(r.headers.get('request-id')).toMatch(/^req_/);
    expect(r.json).toMatchObject({
      id: expect.stringMatching(/^msg_/),
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: standInText('Summarise the asset inventory', 'claude-sonnet-4-5') }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
    });
    expect(r.json.content[0].text).toContain('Summarise the asset inventory');
    // deterministic: the same prompt gives the same text, another prompt another
    const again = await call();
    expect(again.json.content[0].text).toBe(r.json.content[0].text);
    expect(again.json.id).not.toBe(r.json.id);
    const other = await call({ body: { ...GOOD_BODY, messages: [{ role: 'user', content: [{ type: 'text', text: 'Something else' }] }] } });
    expect(other.json.content[0].text).not.toBe(r.json.content[0].text);
  });

  it('missing or wrong x-api-key → 401 authentication_error with a request id', async () => {
    const { 'x-api-key': _k, ...noKey } = GOOD_HEADERS;
    const missing = await call({ headers: noKey });
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.stringMatching(/x-api-key/) }, request_id: expect.stringMatching(/^req_/) });
    expect(missing.headers.get('request-id')).toBe(missing.json.request_id);
    const wrong = await call({ headers: { ...GOOD_HEADERS, 'x-api-key': 'sk-ant-wrong' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toEqual({ type: 'authentication_error', message: 'invalid x-api-key' });
  });

  it('missing or unknown anthropic-version → 400 invalid_request_error', async () => {
    const { 'anthropic-version': _v, ...noVersion } = GOOD_HEADERS;
    const r = await call({ headers: noVersion });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/^anthropic-version/) });
    expect((await call({ headers: { ...GOOD_HEADERS, 'anthropic-version': '1999-01-01' } })).status).toBe(400);
  });

  it.each([
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, 'model: Field required'],
    [{ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Field required'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Input should be greater than or equal to 1'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10 }, 'messages: Field required'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [] }, 'messages: at least one message is required'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'system', content: 'x' }] }, "messages.0.role: Input should be 'user' or 'assistant'"],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ content: 'x' }] }, 'messages.0.role: Field required'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user' }] }, 'messages.0.content: Field required'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages.0.content.0.text: Field required'],
    [{ model: 'claude-sonnet-4-5', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] }, 'stream:'],
  ])('body %j → 400 naming the field', async (body, message) => {
    const r = await call({ body });
    expect(r.status).toBe(400);
    expect(r.json.error.type).toBe('invalid_request_error');
    expect(r.json.error.message.startsWith(message)).toBe(true);
  });

  it('a body that is not JSON → 400; an unknown model → 404 not_found_error', async () => {
    expect((await call({ raw: '{nope' })).json.error.type).toBe('invalid_request_error');
    const r = await call({ body: { ...GOOD_BODY, model: 'gpt-4o' } });
    expect(r.status).toBe(404);
    expect(r.json.error).toEqual({ type: 'not_found_error', message: 'model: gpt-4o' });
  });

  it('cuts the answer at max_tokens (stop_reason max_tokens)', async () => {
    const r = await call({ body: { ...GOOD_BODY, max_tokens: 3 } });
    expect(r.status).toBe(200);
    expect(r.json.stop_reason).toBe('max_tokens');
    expect(r.json.usage.output_tokens).toBeLessThanOrEqual(3);
  });

  it('unknown paths and methods → 404 not_found_error', async () => {
    const r = await call({ path: '/v1/complete' });
    expect(r.status).toBe(404);
    expect(r.json.type).toBe('error');
    expect(r.json.error.type).toBe('not_found_error');
    expect((await call({ path: '/v1/messages', method: 'GET' })).status).toBe(404);
  });

  it('ids look like the real ones', () => {
    expect(newAnthropicId('msg')).toMatch(/^msg_011C[0-9A-Za-z]{20}$/);
    expect(newAnthropicId('req')).toMatch(/^req_011C[0-9A-Za-z]{20}$/);
  });
});
