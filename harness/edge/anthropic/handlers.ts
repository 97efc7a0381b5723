/**
 * The Anthropic Messages API stand-in, as msw request handlers. server.ts serves them as real
 * HTTPS through msw's getResponse (no interception: a real socket, a real TLS handshake).
 *
 * Behaves like https://api.anthropic.com where a client would notice:
 * - POST /v1/messages needs `x-api-key` (missing/invalid → 401 authentication_error) and
 *   `anthropic-version` (missing → 400 invalid_request_error); the body is validated (model,
 *   max_tokens, messages[].role/content, system, stream) → 400 invalid_request_error naming
 *   the field; an unknown model → 404 not_found_error.
 * - success → a Message: {id: "msg_…", type: "message", role: "assistant", model, content:
 *   [{type: "text", text}], stop_reason, stop_sequence: null, usage}. The text is derived
 *   deterministically from the prompt (same prompt → same text), cut at max_tokens
 *   (stop_reason "max_tokens") as the real API cuts a long answer.
 * - every answer carries a `request-id` header (req_…); error bodies carry it as request_id.
 * - any other path → 404 not_found_error.
 * Not modelled: streaming (stream: true → 400 saying so), tools, images, count_tokens, batches.
 */
import { createHash, randomBytes } from 'node:crypto';
import { http, HttpResponse, type RequestHandler } from 'msw';

export const ANTHROPIC_HOST = 'api.anthropic.com';
export const ANTHROPIC_VERSIONS = ['2023-06-01', '2023-01-01'];

export type AnthropicErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'request_too_large' | 'rate_limit_error' | 'api_error' | 'overloaded_error';

export interface AnthropicHandlerOptions {
  /** the API keys accepted (asked on every request) */
  validKeys: () => readonly string[];
  /** ids are random by default; tests may make them deterministic */
  newId?: (prefix: 'msg' | 'req') => string;
}

/** A `req_…` / `msg_…` id shaped like the real ones (base62, 24 characters after the prefix). */
export function newAnthropicId(prefix: 'msg' | 'req'): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const bytes = randomBytes(24);
  let out = '011C';
  for (let i = 0; out.length < 24; i++) out += alphabet[bytes[i]! % 62];
  return `${prefix}_${out}`;
}

/** Roughly four characters a token, as for English text (deterministic). */
export function tokensOf(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The stand-in's deterministic answer to a prompt. */
export function standInText(prompt: string, model: string): string {
  const digest = createHash('sha256').update(prompt).digest('hex').slice(0, 12);
  const words = prompt.split(/\s+/).filter(Boolean).length;
  const excerpt = prompt.replace(/\s+/g, ' ').trim().slice(0, 120);
  return `Analysis (${model}, harness stand-in): "${excerpt}" — ${words} word(s), prompt sha256 ${digest}.`;
}

interface ContentBlock {
  type: string;
  text?: string;
}

class FieldError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly type: AnthropicErrorType = 'invalid_request_error',
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** text of a string or an array of content blocks; throws FieldError naming `field` */
function textOf(content: unknown, field: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new FieldError(`${field}: Input should be a valid string or a list of content blocks`);
  const parts: string[] = [];
  content.forEach((b: unknown, j) => {
    if (!isObject(b) || typeof b.type !== 'string') throw new FieldError(`${field}.${j}.type: Field required`);
    const block = b as unknown as ContentBlock;
    if (block.type === 'text') {
      if (typeof block.text !== 'string') throw new FieldError(`${field}.${j}.text: Field required`);
      parts.push(block.text);
    } else if (!['image', 'document', 'tool_use', 'tool_result'].includes(block.type)) {
      throw new FieldError(`${field}.${j}.type: Input tag '${block.type}' found using 'type' does not match any of the expected tags`);
    }
  });
  return parts.join('\n');
}

interface ValidRequest {
  model: string;
  maxTokens: number;
  system: string;
  messages: { role: 'user' | 'assistant'; text: string }[];
  stopSequences: string[];
}

function validate(body: unknown): ValidRequest {
  if (!isObject(body)) throw new FieldError('Input should be a valid dictionary or object to extract fields from');
  if (body.model === undefined) throw new FieldError('model: Field required');
  if (typeof body.model !== 'string' || body.model === '') throw new FieldError('model: Input should be a valid string');
  if (body.max_tokens === undefined) throw new FieldError('max_tokens: Field required');
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens)) throw new FieldError('max_tokens: Input should be a valid integer');
  if (body.max_tokens < 1) throw new FieldError('max_tokens: Input should be greater than or equal to 1');
  if (body.messages === undefined) throw new FieldError('messages: Field required');
  if (!Array.isArray(body.messages)) throw new FieldError('messages: Input should be a valid list');
  if (body.messages.length === 0) throw new FieldError('messages: at least one message is required');
  const messages = body.messages.map((m: unknown, i) => {
    if (!isObject(m)) throw new FieldError(`messages.${i}: Input should be a valid dictionary`);
    if (m.role === undefined) throw new FieldError(`messages.${i}.role: Field required`);
    if (m.role !== 'user' && m.role !== 'assistant') throw new FieldError(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (m.content === undefined) throw new FieldError(`messages.${i}.content: Field required`);
    const text = textOf(m.content, `messages.${i}.content`);
    if (m.role === 'user' && text.trim() === '' && typeof m.content === 'string') throw new FieldError(`messages.${i}: user messages must have non-empty content`);
    return { role: m.role, text } as const;
  });
  let system = '';
  if (body.system !== undefined) system = textOf(body.system, 'system');
  if (body.stream === true) throw new FieldError('stream: streaming is not modelled by the harness stand-in; send stream: false');
  if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) {
    throw new FieldError('temperature: Input should be less than or equal to 1');
  }
  let stopSequences: string[] = [];
  if (body.stop_sequences !== undefined) {
    if (!Array.isArray(body.stop_sequences) || !body.stop_sequences.every((x) => typeof x === 'string')) throw new FieldError('stop_sequences: Input should be a valid list of strings');
    stopSequences = body.stop_sequences as string[];
  }
  if (!/^claude-[a-z0-9.-]+$/.test(body.model)) throw new FieldError(`model: ${body.model}`, 404, 'not_found_error');
  return { model: body.model, maxTokens: body.max_tokens, system, messages, stopSequences };
}

function one(headers: Headers, name: string): string | undefined {
  const v = headers.get(name);
  return v === null ? undefined : v;
}

/** The msw handlers of the stand-in (origin-agnostic: the server may be reached by any host name). */
export function anthropicHandlers(opts: AnthropicHandlerOptions): RequestHandler[] {
  const newId = opts.newId ?? newAnthropicId;
  const error = (status: number, type: AnthropicErrorType, message: string) => {
    const requestId = newId('req');
    return HttpResponse.json({ type: 'error', error: { type, message }, request_id: requestId }, { status, headers: { 'request-id': requestId } });
  };

  return [
    http.post('*/v1/messages', async ({ request }) => {
      const key = one(request.headers, 'x-api-key');
      // the real API accepts the key as a bearer token too (Authorization: Bearer), as OAuth clients send it
      const bearer = /^Bearer\s+(.+)$/i.exec(one(request.headers, 'authorization') ?? '')?.[1];
      const given = key ?? bearer;
      if (given === undefined || given === '') return error(401, 'authentication_error', 'x-api-key header is required');
      if (!opts.validKeys().includes(given)) return error(401, 'authentication_error', 'invalid x-api-key');
      const version = one(request.headers, 'anthropic-version');
      if (version === undefined || version === '') return error(400, 'invalid_request_error', 'anthropic-version: header is required');
      if (!ANTHROPIC_VERSIONS.includes(version)) return error(400, 'invalid_request_error', `anthropic-version: invalid version "${version}"`);
      const raw = await request.text();
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        return error(400, 'invalid_request_error', 'There was an error parsing the body of your request: it is not valid JSON');
      }
      let req: ValidRequest;
      try {
        req = validate(body);
      } catch (e) {
        if (e instanceof FieldError) return error(e.status, e.type, e.message);
        throw e;
      }
      const lastUser = [...req.messages].reverse().find((m) => m.role === 'user')?.text ?? '';
      let text = standInText(lastUser, req.model);
      let stopReason: 'end_turn' | 'max_tokens' | 'stop_sequence' = 'end_turn';
      let stopSequence: string | null = null;
      for (const seq of req.stopSequences) {
        const at = seq ? text.indexOf(seq) : -1;
        if (at >= 0) {
          text = text.slice(0, at);
          stopReason = 'stop_sequence';
          stopSequence = seq;
          break;
        }
      }
      if (tokensOf(text) > req.maxTokens) {
        text = text.slice(0, req.maxTokens * 4);
        stopReason = 'max_tokens';
        stopSequence = null;
      }
      const inputTokens = tokensOf(req.system) + req.messages.reduce((n, m) => n + tokensOf(m.text) + 3, 0);
      const requestId = newId('req');
      return HttpResponse.json(
        {
          id: newId('msg'),
          type: 'message',
          role: 'assistant',
          model: req.model,
          content: [{ type: 'text', text }],
          stop_reason: stopReason,
          stop_sequence: stopSequence,
          usage: { input_tokens: inputTokens, output_tokens: tokensOf(text), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
        { status: 200, headers: { 'request-id': requestId } },
      );
    }),
    http.all('*', ({ request }) => error(404, 'not_found_error', `Not Found: ${request.method} ${new URL(request.url).pathname}`)),
  ];
}
