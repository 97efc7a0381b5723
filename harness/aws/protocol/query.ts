import { AwsError } from './errors.ts';

/**
 * awsQuery / ec2 form bodies → nested input. `A.member.1.B=x` (query) and `A.1.B=x` (ec2)
 * both become `{A: [{B: 'x'}]}`; `Tags.member.1.Key` likewise. `entry.N.key/value` maps
 * (query maps) become arrays of {key, value} entries the provider can read.
 */
export function parseFormBody(body: string): { action: string; version?: string; params: Record<string, unknown> } {
  const form = new URLSearchParams(body);
  const params: Record<string, unknown> = {};
  let action: string | undefined;
  let version: string | undefined;
  for (const [key, value] of form) {
    if (key === 'Action') { action = value; continue; }
    if (key === 'Version') { version = value; continue; }
    setPath(params, key.split('.'), value);
  }
  if (!action) throw new AwsError('MissingAction', 'Missing Action parameter.');
  return { action, version, params: compact(params) as Record<string, unknown> };
}

type Node = Record<string, unknown>;

function setPath(root: Node, parts: string[], value: string): void {
  let cur: Node = root;
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i]!;
    if (p === 'member' || p === 'item') continue; // list wrapper: the index follows
    const last = i === parts.length - 1;
    if (last) {
      cur[p] = value;
      return;
    }
    if (!(p in cur) || typeof cur[p] !== 'object') cur[p] = {};
    cur = cur[p] as Node;
  }
}

/** Objects whose keys are all positive integers become arrays in index order. */
function compact(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const o = v as Node;
  const keys = Object.keys(o);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => compact(o[k]));
  }
  const out: Node = {};
  for (const k of keys) out[k] = compact(o[k]);
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Serializes an output object to XML elements. Lists use `member` (query) or `item` (ec2). */
export function toXml(v: unknown, listItem: 'member' | 'item'): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Date) return esc(v.toISOString());
  if (Array.isArray(v)) return v.map((x) => `<${listItem}>${toXml(x, listItem)}</${listItem}>`).join('');
  if (typeof v === 'object') {
    let s = '';
    for (const [k, x] of Object.entries(v as Node)) {
      if (x === undefined || x === null) continue;
      s += `<${k}>${toXml(x, listItem)}</${k}>`;
    }
    return s;
  }
  return esc(String(v));
}

export function queryResponse(action: string, xmlns: string, output: unknown, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${xmlns}"><${action}Result>${toXml(output, 'member')}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

export function queryError(err: AwsError, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>${err.senderFault ? 'Sender' : 'Receiver'}</Type><Code>${esc(err.code)}</Code><Message>${esc(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

export function ec2Response(action: string, xmlns: string, output: unknown, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${xmlns}"><requestId>${requestId}</requestId>${toXml(output, 'item')}</${action}Response>`;
}

export function ec2Error(err: AwsError, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(err.code)}</Code><Message>${esc(err.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}
