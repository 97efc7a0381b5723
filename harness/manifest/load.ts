import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod/v4';
import { manifestSchema, type Manifest } from './schema.ts';

export const MANIFEST_NAMES = ['harness.yaml', 'harness.yml'];

/** The bundled fixture, the embedded default deploy dir. */
export const DEFAULT_DEPLOY_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/v2-deployment-ecs');

/** A problem in a deploy dir or its manifest: the file, the key path, what was expected. */
export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${file}: ${keyPath}: ${problem}`);
    this.name = 'ManifestError';
  }
}

export interface LoadedManifest extends Manifest {
  /** absolute path of harness.yaml */
  file: string;
  /** the deployment repo (absolute); the scripts run here */
  deployDir: string;
}

/** The manifest of a deploy dir: `--manifest PATH`, else harness.yaml at the deploy dir's root. */
export function findManifest(deployDir: string, manifestPath?: string): string {
  const dir = path.resolve(deployDir);
  if (manifestPath) {
    const f = path.resolve(manifestPath);
    if (!fs.existsSync(f)) throw new ManifestError(rel(f), 'file', 'does not exist (--manifest)');
    return f;
  }
  if (!fs.existsSync(dir)) throw new ManifestError(rel(dir), 'deploy dir', 'does not exist');
  for (const n of MANIFEST_NAMES) {
    const f = path.join(dir, n);
    if (fs.existsSync(f)) return f;
  }
  throw new ManifestError(rel(path.join(dir, MANIFEST_NAMES[0]!)), 'file', `missing: write one with \`npx harness init --deploy-dir ${rel(dir)}\`, or pass --manifest PATH`);
}

export function loadManifest(deployDir: string = DEFAULT_DEPLOY_DIR, manifestPath?: string): LoadedManifest {
  const file = findManifest(deployDir, manifestPath);
  return { ...parseManifest(fs.readFileSync(file, 'utf8'), rel(file)), file, deployDir: path.resolve(deployDir) };
}

/** Parses and validates manifest text; every problem names the file, the key path and what was expected. */
export function parseManifest(text: string, file: string): Manifest {
  let doc: unknown;
  try {
    const lines = new YAML.LineCounter();
    const parsed = YAML.parseDocument(text, { prettyErrors: false, lineCounter: lines });
    if (parsed.errors.length) {
      const e = parsed.errors[0]!;
      throw new ManifestError(file, `line ${lines.linePos(e.pos[0]).line}`, `not valid YAML: ${e.message.split('\n')[0]}`);
    }
    doc = parsed.toJS();
  } catch (e) {
    if (e instanceof ManifestError) throw e;
    throw new ManifestError(file, 'document', `not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ManifestError(file, 'document', 'expected a mapping with region, vpc, … (see harness.schema.json)');
  const r = manifestSchema.safeParse(doc, { reportInput: true });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const inner = innermost(issue);
    throw new ManifestError(file, keyPath([...issue.path, ...inner.path]) || 'document', describeIssue(inner.issue));
  }
  checkReferences(r.data, file);
  return r.data;
}

/** Cross-key checks the schema cannot say. */
function checkReferences(m: Manifest, file: string): void {
  m.vpc.subnets.forEach((s, i) => {
    if (!cidrInside(m.vpc.cidr, s.cidr)) throw new ManifestError(file, `vpc.subnets[${i}].cidr`, `${s.cidr} is not inside vpc.cidr ${m.vpc.cidr}`);
    if (!s.az.startsWith(m.region)) throw new ManifestError(file, `vpc.subnets[${i}].az`, `${s.az} is not in region ${m.region}`);
  });
  const pools = new Set<string>();
  m.cognito.forEach((p, i) => {
    if (pools.has(p.userPool)) throw new ManifestError(file, `cognito[${i}].userPool`, `${p.userPool} is listed twice`);
    pools.add(p.userPool);
  });
  for (const [k, v] of Object.entries(m.secrets)) {
    if (typeof v !== 'string') continue;
    for (const [, ref] of v.matchAll(/\{([^{}]+)\}/g)) {
      const [kind, pool, attr] = ref!.split('.');
      if (kind !== 'cognito') continue;
      if (!pools.has(pool!)) throw new ManifestError(file, `secrets.${k}`, `{${ref}} names user pool ${pool}, which cognito does not list`);
      if (!['jwksUrl', 'issuer', 'id', 'arn'].includes(attr ?? '')) throw new ManifestError(file, `secrets.${k}`, `{${ref}}: expected jwksUrl, issuer, id or arn after the pool name`);
    }
  }
  const surreal = Object.entries(m.hosts).filter(([, h]) => h.kind === 'surrealdb');
  const anthropic = Object.entries(m.hosts).filter(([, h]) => h.kind === 'anthropic');
  if (surreal.length > 1) throw new ManifestError(file, `hosts.${surreal[1]![0]}`, 'only one surrealdb host is supported');
  if (anthropic.length > 1) throw new ManifestError(file, `hosts.${anthropic[1]![0]}`, 'only one anthropic host is supported');
  for (const [k, h] of anthropic) {
    if (h.kind === 'anthropic' && h.apiKeySecret && !(h.apiKeySecret in m.secrets)) throw new ManifestError(file, `hosts.${k}.apiKeySecret`, `${h.apiKeySecret} is not under secrets`);
  }
}

function keyPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out;
}

/**
 * Of a union's branches, the issue of the form the input meant: a branch of its type (not
 * rejected at its root), and of those one that does not reject its keys.
 */
function unionBranchIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const branches = (issue.errors ?? []).filter((b) => b.length);
  const ofItsType = branches.filter((b) => !b.some((x) => x.path.length === 0 && (x.code === 'invalid_type' || x.code === 'invalid_value')));
  const rejects = (b: z.core.$ZodIssue[], key?: string) => b.some((x) => x.code === 'unrecognized_keys' && (!key || x.keys.includes(key)));
  // an `image` key means the own-image form, whatever else is wrong with it
  return (ofItsType.find((b) => !rejects(b)) ?? ofItsType.find((b) => !rejects(b, 'image')) ?? ofItsType[0] ?? branches[0])?.[0];
}

/** Down through unions to the issue to report, with the key path below the outer issue. */
function innermost(issue: z.core.$ZodIssue): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  const path: PropertyKey[] = [];
  let cur = issue;
  for (;;) {
    if (cur.code === 'invalid_union' && typeof (cur as { input?: unknown }).input === 'string') return { issue: cur, path };
    const next = unionBranchIssue(cur);
    if (!next) return { issue: cur, path };
    path.push(...next.path);
    cur = next;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `is required (expected ${issue.expected})` : `expected ${issue.expected}, got ${typeName(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (see harness.schema.json)`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(issue.input)}`;
    case 'invalid_union': {
      const input = (issue as { input?: unknown }).input;
      if (typeof input === 'string') return `expected one of the behaviours or a mapping, got ${JSON.stringify(input)}`;
      return unionBranchIssue(issue) ? describeIssue(unionBranchIssue(issue)!) : 'does not match any allowed form';
    }
    case 'invalid_format':
      return `expected ${issue.message.replace(/^Invalid string: /, '')}, got ${JSON.stringify((issue as { input?: unknown }).input)}`;
    default:
      return `${issue.message}${'input' in issue && issue.input !== undefined ? `, got ${JSON.stringify(issue.input)}` : ''}`;
  }
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

function ipInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function cidrInside(outer: string, inner: string): boolean {
  const [oa, ob] = outer.split('/');
  const [ia, ib] = inner.split('/');
  const obits = Number(ob);
  if (Number(ib) < obits) return false;
  const mask = obits === 0 ? 0 : 2 ** 32 - 2 ** (32 - obits);
  return (ipInt(oa!) & mask) >>> 0 === (ipInt(ia!) & mask) >>> 0;
}

function rel(p: string): string {
  return path.relative(process.cwd(), p) || p;
}
