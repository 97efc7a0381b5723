/**
 * `harness init`, step 1: scan a deployment repo. Reads (never runs) every file that may say
 * what must exist before the scripts run: task definitions (JSON or YAML holding
 * containerDefinitions, placeholders allowed), config files (KEY=value / shell, .env,
 * JSON/YAML), scripts (*.sh and extensionless files with a bash/sh shebang) and their aws
 * calls, VERSION files and CI config. Everything keeps its file and line.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { assignmentsOf, awsCallsOf, awsWrappers, expandPattern, expandWord, functionsOf, wordsOf, type Assignment, type AwsCall, type ShellFunction } from './init-shell.ts';

export interface Where {
  file: string;
  line: number;
}
export const fmtWhere = (w: Where): string => `${w.file}:${w.line}`;

/** A YAML/JSON node with the line it starts on. */
export interface LNode {
  line: number;
  scalar?: unknown;
  map?: Map<string, LNode>;
  list?: LNode[];
}

export function plain(n: LNode | undefined): unknown {
  if (!n) return undefined;
  if (n.map) return Object.fromEntries([...n.map].map(([k, v]) => [k, plain(v)]));
  if (n.list) return n.list.map(plain);
  return n.scalar;
}

/** a key, case-insensitive on its first letter (family / Family) */
export function get(n: LNode | undefined, key: string): LNode | undefined {
  if (!n?.map) return undefined;
  return n.map.get(key) ?? n.map.get(key[0]!.toUpperCase() + key.slice(1));
}

export function str(n: LNode | undefined): string | undefined {
  return n && n.scalar !== undefined && n.scalar !== null && typeof n.scalar !== 'object' ? String(n.scalar) : undefined;
}

export interface ContainerFound {
  name?: string;
  image?: { value: string; line: number };
  environment: { name: string; value: string; line: number }[];
  secrets: { name: string; valueFrom: string; line: number }[];
  logRegion?: { value: string; line: number };
}

export interface TaskDefinitionFound {
  family: string;
  /** the family came from the file name (no family key) */
  familyGuessed: boolean;
  file: string;
  line: number;
  roles: { arn: string; line: number }[];
  /** runtimePlatform.cpuArchitecture (ARM64, X86_64) */
  arch?: { value: string; line: number };
  containers: ContainerFound[];
}

export interface DataFile {
  file: string;
  root: LNode;
}

export interface TagFound {
  tag: string;
  where: Where;
  how: string;
}

export interface RepoScan {
  root: string;
  /** every file read (repo-relative) */
  files: string[];
  scripts: { file: string; text: string }[];
  taskDefs: TaskDefinitionFound[];
  /** files that mention containerDefinitions but could not be parsed: families by a plain text match */
  unparsed: { file: string; families: { family: string; line: number }[]; error: string }[];
  assigns: Assignment[];
  functions: ShellFunction[];
  data: DataFile[];
  awsCalls: AwsCall[];
  tags: TagFound[];
  /** config files set aside because a sibling holding the same keys was chosen (env/staging.json beside env/prod.json) */
  alternatives: { file: string; chosen: string }[];
}

const SKIP_DIRS = new Set(['.git', 'node_modules', '.harness', '.terraform', '.venv', 'venv', '__pycache__', '.idea', '.vscode', '.cache']);
const MAX_FILES = 5000;
const MAX_BYTES = 1 << 20;
const DATA_EXT = /\.(json|ya?ml)(\.(tpl|tmpl|template|j2|in))?$|\.(tpl|tmpl|template|j2)$/i;
const SHELL_CONFIG = /(^|\/)(\.env(\.[\w.-]+)?|\.envrc|[^/]+\.(env|conf|cfg|properties|vars|ini))$/i;
const CI_FILE = /(^|\/)(\.github\/workflows\/[^/]+|\.gitlab-ci\.ya?ml|\.circleci\/[^/]+|buildspec[^/]*\.ya?ml|azure-pipelines\.ya?ml|bitbucket-pipelines\.ya?ml|Jenkinsfile|\.buildkite\/[^/]+|cloudbuild\.ya?ml|\.drone\.ya?ml)$/;
const NOT_CONFIG = /(^|\/)(package(-lock)?\.json|tsconfig[^/]*\.json|composer\.(json|lock)|\.eslintrc[^/]*|\.prettierrc[^/]*|renovate\.json|\.pre-commit-config\.yaml|mkdocs\.ya?ml|docker-compose[^/]*\.ya?ml|compose\.ya?ml|harness\.ya?ml|harness\.schema\.json)$/;
const VERSION_FILE = /(^|\/)(VERSION|version\.txt|\.version|RELEASE)$/;
const TAG_RE = String.raw`v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?`;

/** Lists the repo's text files (relative paths, sorted), skipping VCS/dependency folders. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (out.length >= MAX_FILES) return;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(path.join(dir, e.name), r);
      } else if (e.isFile()) out.push(r);
    }
  };
  walk(root, '');
  return out;
}

function readText(abs: string): string | undefined {
  try {
    const st = fs.statSync(abs);
    if (st.size > MAX_BYTES) return undefined;
    const buf = fs.readFileSync(abs);
    if (buf.subarray(0, 8000).includes(0)) return undefined;
    return buf.toString('utf8');
  } catch {
    return undefined;
  }
}

/** JSON/YAML with placeholders such as "cpu": ${CPU} or image: {{ .Image }} made parseable (lines kept). */
function quotePlaceholders(text: string): string {
  return (
    text
      // a value that is one placeholder: "cpu": ${CPU}, - {{ x }}
      .replace(/("[ \t]*:[ \t]*|:[ \t]+|[[,][ \t]*|^[ \t]*-[ \t]+)(\$\{[^}\n]*\}|\{\{[^}\n]*\}\}|<[A-Za-z_][\w-]*>)(?=[ \t]*[,}\]\r\n]|[ \t]*$)/gm, (_m, pre: string, ph: string) => `${pre}${JSON.stringify(ph)}`)
      // a YAML plain value that starts with {{ (a flow mapping to YAML): quote the rest of the line
      .replace(/^([ \t]*(?:-[ \t]+)?[\w.-]+:[ \t]+|[ \t]*-[ \t]+)(\{\{[^\n]*?)[ \t]*$/gm, (_m, pre: string, v: string) => `${pre}${JSON.stringify(v)}`)
  );
}

export function parseData(text: string): { root?: LNode; error?: string } {
  const lc = new YAML.LineCounter();
  const parse = (t: string): YAML.Document.Parsed[] => YAML.parseAllDocuments(t, { lineCounter: lc, prettyErrors: false, strict: false, uniqueKeys: false, logLevel: 'silent' }) as YAML.Document.Parsed[];
  let docs: YAML.Document.Parsed[];
  try {
    docs = parse(quotePlaceholders(text));
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
  const bad = docs.find((d) => d.errors.length);
  if (bad) return { error: bad.errors[0]!.message.split('\n')[0] };
  const toL = (node: unknown): LNode => {
    const line = (r: { range?: [number, number, number] | null }): number => (r.range ? lc.linePos(r.range[0]).line : 0);
    if (YAML.isMap(node)) {
      const map = new Map<string, LNode>();
      for (const p of node.items) {
        const k = YAML.isScalar(p.key) ? String(p.key.value) : String(p.key);
        const v = p.value === null || p.value === undefined ? { line: YAML.isNode(p.key) ? line(p.key) : 0, scalar: null } : toL(p.value);
        if (YAML.isNode(p.key) && v.line === 0) v.line = line(p.key);
        map.set(k, v);
      }
      return { line: line(node), map };
    }
    if (YAML.isSeq(node)) return { line: line(node), list: node.items.map(toL) };
    if (YAML.isScalar(node)) return { line: line(node), scalar: node.value };
    if (YAML.isAlias(node)) return { line: line(node), scalar: null };
    return { line: 0, scalar: null };
  };
  const roots = docs.filter((d) => d.contents).map((d) => toL(d.contents));
  if (roots.length === 0) return {};
  return { root: roots.length === 1 ? roots[0] : { line: 1, list: roots } };
}

function visit(n: LNode, f: (n: LNode) => boolean | void): void {
  if (f(n) === false) return;
  if (n.map) for (const v of n.map.values()) visit(v, f);
  if (n.list) for (const v of n.list) visit(v, f);
}

function familyFromFileName(file: string): string {
  return path
    .basename(file)
    .replace(/(\.(json|ya?ml|tpl|tmpl|template|j2|in))+$/i, '')
    .replace(/[-_.]?(task[-_]?def(inition)?s?|taskdef|td|service|container[-_]?definitions?)$/i, '')
    .replace(/^(task[-_]?def(inition)?|taskdef|td)[-_.]/i, '');
}

function taskDefsOf(root: LNode, file: string): TaskDefinitionFound[] {
  const out: TaskDefinitionFound[] = [];
  visit(root, (n) => {
    const cds = get(n, 'containerDefinitions');
    if (!cds?.list) return;
    const fam = str(get(n, 'family'));
    const roles: { arn: string; line: number }[] = [];
    for (const k of ['executionRoleArn', 'taskRoleArn']) {
      const r = get(n, k);
      if (str(r)) roles.push({ arn: str(r)!, line: r!.line });
    }
    const containers: ContainerFound[] = cds.list.map((c) => {
      const image = get(c, 'image');
      const env = (get(c, 'environment')?.list ?? []).flatMap((e) => {
        const name = str(get(e, 'name'));
        const value = str(get(e, 'value'));
        return name !== undefined && value !== undefined ? [{ name, value, line: get(e, 'value')!.line || e.line }] : [];
      });
      const secrets = (get(c, 'secrets')?.list ?? []).flatMap((e) => {
        const name = str(get(e, 'name'));
        const valueFrom = str(get(e, 'valueFrom'));
        return name !== undefined && valueFrom !== undefined ? [{ name, valueFrom, line: get(e, 'valueFrom')!.line || e.line }] : [];
      });
      const opts = get(get(c, 'logConfiguration'), 'options');
      const lr = opts?.map?.get('awslogs-region');
      return {
        name: str(get(c, 'name')),
        image: str(image) ? { value: str(image)!, line: image!.line } : undefined,
        environment: env,
        secrets,
        logRegion: str(lr) ? { value: str(lr)!, line: lr!.line } : undefined,
      };
    });
    const arch = get(get(n, 'runtimePlatform'), 'cpuArchitecture');
    out.push({
      family: fam ?? familyFromFileName(file),
      familyGuessed: !fam,
      file,
      line: get(n, 'family')?.line ?? n.line,
      roles,
      ...(str(arch) ? { arch: { value: str(arch)!, line: arch!.line } } : {}),
      containers,
    });
    return false;
  });
  return out;
}

function isScript(file: string, text: string): boolean {
  if (/\.(sh|bash)$/.test(file)) return true;
  if (path.basename(file).includes('.')) return false;
  return /^#!.*\b(ba|da|k|z)?sh\b/.test(text);
}

/** Scans a deployment repo: see the module comment. */
export function scanRepo(root: string): RepoScan {
  const abs = path.resolve(root);
  const scan: RepoScan = { root: abs, files: [], scripts: [], taskDefs: [], unparsed: [], assigns: [], functions: [], data: [], awsCalls: [], tags: [], alternatives: [] };
  const shellConfigs: { file: string; assigns: Assignment[] }[] = [];
  for (const file of listFiles(abs)) {
    const text = readText(path.join(abs, file));
    if (text === undefined) continue;
    scan.files.push(file);
    if (/(^|\/)harness\.ya?ml$/.test(file) && !file.includes('/')) continue;
    if (isScript(file, text)) {
      scan.scripts.push({ file, text });
      scan.assigns.push(...assignmentsOf(text, file, false));
      scan.functions.push(...functionsOf(text, file));
      tagsIn(text, file, scan.tags, false);
      continue;
    }
    if (SHELL_CONFIG.test(file)) {
      const assigns = assignmentsOf(text, file, true);
      shellConfigs.push({ file, assigns });
      tagsIn(text, file, scan.tags, true);
      continue;
    }
    if (VERSION_FILE.test(file)) {
      const v = text.trim().split(/\r?\n/)[0]!.trim();
      if (new RegExp(`^${TAG_RE}$`).test(v)) scan.tags.push({ tag: v, where: { file, line: 1 }, how: 'VERSION file' });
      continue;
    }
    if (CI_FILE.test(file)) {
      tagsIn(text, file, scan.tags, true);
      continue;
    }
    if (/\.(md|markdown|rst|txt|adoc)$/i.test(file)) {
      tagsIn(text, file, scan.tags, false);
      continue;
    }
    if (!DATA_EXT.test(file) || NOT_CONFIG.test(file)) continue;
    const mentions = /containerDefinitions/i.test(text);
    const { root: node, error } = parseData(text);
    if (!node) {
      if (mentions) {
        const families = [...text.matchAll(/["']?family["']?\s*[:=]\s*["']?([^"',\s}]+)/gi)].map((m) => ({ family: m[1]!, line: text.slice(0, m.index).split('\n').length }));
        scan.unparsed.push({ file, families: families.length ? families : [{ family: familyFromFileName(file), line: 1 }], error: error ?? 'empty' });
      }
      continue;
    }
    const tds = mentions ? taskDefsOf(node, file) : [];
    if (tds.length) scan.taskDefs.push(...tds);
    else scan.data.push({ file, root: node });
  }
  // aws calls, also through the repo's wrapper functions (awsr elbv2 …)
  const wrappers = awsWrappers(scan.functions);
  for (const sc of scan.scripts) scan.awsCalls.push(...awsCallsOf(sc.text, sc.file, wrappers));
  // sibling config files holding the same keys are alternatives (env/prod.json, env/staging.json): keep one
  const preferred = preferredEnvNames(scan);
  const chooseAmong = <T extends { file: string }>(items: T[], keysOf: (x: T) => Set<string>): Set<string> => {
    const dropped = new Set<string>();
    const groups = new Map<string, T[]>();
    for (const it of items) {
      const g = `${path.dirname(it.file)}|${path.extname(it.file)}`;
      groups.set(g, [...(groups.get(g) ?? []), it]);
    }
    for (const g of groups.values()) {
      if (g.length < 2) continue;
      const left = [...g];
      while (left.length > 1) {
        const first = left.shift()!;
        const ka = keysOf(first);
        const same = left.filter((o) => similar(ka, keysOf(o)));
        if (!same.length) continue;
        const all = [first, ...same];
        const pick = all.find((x) => preferred.includes(stem(x.file))) ?? all.find((x) => /^(prod|production|live|main|default)$/i.test(stem(x.file))) ?? all[0]!;
        for (const x of all) {
          if (x !== pick) {
            dropped.add(x.file);
            scan.alternatives.push({ file: x.file, chosen: pick.file });
          }
          const idx = left.indexOf(x);
          if (idx >= 0) left.splice(idx, 1);
        }
      }
    }
    return dropped;
  };
  const droppedShell = chooseAmong(shellConfigs, (c) => new Set(c.assigns.map((a) => a.name)));
  for (const c of shellConfigs) if (!droppedShell.has(c.file)) scan.assigns.push(...c.assigns);
  const droppedData = chooseAmong(scan.data, (d) => new Set(flatten(d.root).map((e) => e.path)));
  scan.data = scan.data.filter((d) => !droppedData.has(d.file));
  return scan;
}

function stem(file: string): string {
  return path.basename(file).replace(/\.[^.]*$/, '');
}

function similar(a: Set<string>, b: Set<string>): boolean {
  if (!a.size || !b.size) return false;
  let both = 0;
  for (const k of a) if (b.has(k)) both++;
  return both / (a.size + b.size - both) >= 0.6;
}

/** Default environment names the scripts fall back to: ${ENV:-prod}, APP_ENV:-staging … */
function preferredEnvNames(scan: RepoScan): string[] {
  return scan.assigns.filter((a) => /(^|_)(ENV|ENVIRONMENT|STAGE|TARGET|TIER)$/i.test(a.name) && /^[\w.-]+$/.test(a.raw)).map((a) => a.raw);
}

function tagsIn(text: string, file: string, out: TagFound[], keys: boolean): void {
  const lines = text.split(/\r?\n/);
  lines.forEach((l, i) => {
    for (const m of l.matchAll(new RegExp(String.raw`(?:deploy|release|rollout)[\w-]*(?:\.sh)?\b((?:\s+[\w./=-]+)*?)\s+(${TAG_RE})\b`, 'gi'))) {
      out.push({ tag: m[2]!, where: { file, line: i + 1 }, how: 'a deploy command' });
    }
    if (keys) {
      const m = new RegExp(String.raw`\b(?:[A-Z_]*(?:VERSION|IMAGE_TAG|RELEASE)|version|tag|image_tag|imageTag)["']?\s*[:=]\s*["']?(${TAG_RE})["']?\s*$`).exec(l);
      if (m) out.push({ tag: m[1]!, where: { file, line: i + 1 }, how: 'a version setting' });
    }
  });
}

/** Every scalar of a data file with its jq-style path (.alb.name, .subnets[0]). */
export function flatten(n: LNode, prefix = ''): { path: string; value: string; line: number; node: LNode }[] {
  const out: { path: string; value: string; line: number; node: LNode }[] = [];
  if (n.map) for (const [k, v] of n.map) out.push(...flatten(v, `${prefix}${/^[A-Za-z_][\w]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`));
  else if (n.list) n.list.forEach((v, i) => out.push(...flatten(v, `${prefix}[${i}]`)));
  else if (n.scalar !== null && n.scalar !== undefined) out.push({ path: prefix || '.', value: String(n.scalar), line: n.line, node: n });
  return out;
}

/** Evaluates a simple jq path (.a.b, .a["b-c"], .a[0], .a[]) on a node. */
export function jqPath(n: LNode, p: string): LNode[] | undefined {
  const steps = [...p.matchAll(/\.([A-Za-z_][\w-]*)|\["([^"]+)"\]|\[(\d+)\]|\[\]|\.\["([^"]+)"\]/g)];
  if (!steps.length && p.trim() !== '.') return undefined;
  let cur: LNode[] = [n];
  for (const s of steps) {
    const next: LNode[] = [];
    for (const c of cur) {
      if (s[1] !== undefined || s[2] !== undefined || s[4] !== undefined) {
        const v = c.map?.get((s[1] ?? s[2] ?? s[4])!);
        if (v) next.push(v);
      } else if (s[3] !== undefined) {
        const v = c.list?.[Number(s[3])];
        if (v) next.push(v);
      } else next.push(...(c.list ?? (c.map ? [...c.map.values()] : [])));
    }
    if (!next.length) return undefined;
    cur = next;
  }
  return cur;
}

// ------------------------------------------------------------------ resolving shell words

/** A file pattern (with '\0' wildcards, ./ and ../ dropped) as a RegExp over repo-relative paths. */
export function patternRegExp(pat: string): RegExp {
  const clean = pat.replace(/(^|\/)(\.\.?\/)+/g, '$1').replace(/\/{2,}/g, '/');
  const body = clean
    .split('\0')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('\0')
    .replace(/\0\\?\//g, '(?:[^]*/)?')
    .replace(/\0/g, '[^]*')
    .replace(/^\//, '');
  return new RegExp(`^(?:[^]*/)?${body}$`);
}

export interface Resolved {
  value: string;
  /** where the value (and each variable it went through) came from */
  via: Where[];
}

/** Resolves shell words of the scripts against the config files and the scripts' assignments. */
export class Resolver {
  private readonly byName = new Map<string, Assignment[]>();
  constructor(private readonly scan: RepoScan) {
    for (const a of scan.assigns) this.byName.set(a.name, [...(this.byName.get(a.name) ?? []), a]);
  }

  /** the function a line is in */
  private enclosing(x: Where): ShellFunction | undefined {
    return this.scan.functions.find((f) => f.file === x.file && f.line <= x.line && x.line <= f.end);
  }

  /**
   * The assignments of NAME seen from file:line. A lower-case name is a local by convention:
   * only its assignments before that line in the same function (or at the top level of the
   * same file). An upper-case one: the nearest earlier in the same file, else a config
   * file's, else any script's; ${NAME:-default}s last.
   */
  private candidates(name: string, from: Where | undefined, skip: Set<Assignment>): Assignment[] {
    const all = (this.byName.get(name) ?? []).filter((a) => !skip.has(a));
    if (/[a-z]/.test(name)) {
      if (!from) return [];
      const fn = this.enclosing(from);
      const mine = all.filter((a) => a.file === from.file && a.line <= from.line && (fn ? this.enclosing(a) === fn : !this.enclosing(a)));
      return [...mine.filter((a) => !a.fallback).sort((a, b) => b.line - a.line), ...mine.filter((a) => a.fallback)];
    }
    const same = from ? all.filter((a) => a.file === from.file && a.line <= from.line && !a.fallback).sort((a, b) => b.line - a.line) : [];
    const config = all.filter((a) => a.config && !a.fallback);
    const other = all.filter((a) => !a.config && !a.fallback && !same.includes(a));
    const fallbacks = all.filter((a) => a.fallback);
    return [...same, ...config, ...other, ...fallbacks];
  }

  /** Every value an array NAME=( … ) holds, resolved. */
  array(name: string): { entries: string[]; where: Where } | undefined {
    const a = this.candidates(name, undefined, new Set()).find((x) => x.entries);
    if (!a) return undefined;
    const entries = a.entries!.map((e) => this.word(e, a).value).filter((x): x is string => x !== undefined);
    return { entries, where: { file: a.file, line: a.line } };
  }

  variable(name: string, from?: Where): Resolved | undefined {
    return this.lookup(name, from, new Set(), 0);
  }

  private lookup(name: string, from: Where | undefined, skip: Set<Assignment>, depth: number): Resolved | undefined {
    if (depth > 8) return undefined;
    for (const a of this.candidates(name, from, skip)) {
      if (a.entries) continue;
      const r = this.expand(a.raw, { file: a.file, line: a.line }, new Set([...skip, a]), depth + 1);
      if (r) return { value: r.value, via: [{ file: a.file, line: a.line }, ...r.via] };
    }
    return undefined;
  }

  word(word: string, from?: Where): { value?: string; via: Where[] } {
    const r = this.expand(word, from, new Set(), 0);
    return r ?? { via: [] };
  }

  private expand(word: string, from: Where | undefined, skip: Set<Assignment>, depth: number): Resolved | undefined {
    const via: Where[] = [];
    const value = expandWord(
      word,
      (n) => {
        const r = this.lookup(n, from, skip, depth);
        if (r) via.push(...r.via);
        return r?.value;
      },
      (cmd) => {
        const r = this.substitution(cmd, from, skip, depth);
        if (r) via.push(...r.via);
        return r?.value;
      },
    );
    return value === undefined ? undefined : { value, via };
  }

  /** $(jq -r .alb.name env/prod.json), $(cfg .alb.name) where cfg runs jq, $(cat VERSION) */
  private substitution(cmd: string, from: Where | undefined, skip: Set<Assignment>, depth: number): Resolved | undefined {
    const words = wordsOf(cmd);
    if (!words.length) return undefined;
    const lit = (w: string): string => expandWord(w, () => undefined, () => undefined) ?? w;
    if (words[0] === 'cat' && words.length === 2) {
      const f = this.expand(words[1]!, from, skip, depth)?.value;
      const hit = f && this.fileNamed(f);
      if (hit) {
        const text = readText(path.join(this.scan.root, hit));
        if (text !== undefined) return { value: text.trim(), via: [{ file: hit, line: 1 }] };
      }
      return undefined;
    }
    let filter: string | undefined;
    let fileWord: string | undefined;
    let pipeline = cmd;
    const jqAt = words.indexOf('jq');
    if (jqAt >= 0) {
      const args = words.slice(jqAt + 1).filter((w) => !/^--?[a-zA-Z-]+$/.test(w) && !/^[|<>]/.test(w));
      filter = args[0] ? lit(args[0]) : undefined;
      fileWord = args[1] ?? (words[0] === 'cat' && jqAt > 1 ? words[1] : undefined);
    } else {
      // a function that runs jq: cfg .alb.name / cfg alb.name, its body `jq -r ".$1" "$CONFIG_FILE"`
      const fn = this.scan.functions.find((f) => f.name === words[0] && /\bjq\b/.test(f.body));
      const argWord = words.slice(1).find((x) => !/^--?[a-zA-Z-]+$/.test(x));
      if (!fn || !argWord) return undefined;
      const arg = lit(argWord);
      const m = /\bjq\b([^\n;|]*)/.exec(fn.body)!;
      const fnWords = wordsOf(m[1]!).filter((w) => !/^--?[a-zA-Z-]+$/.test(w) && !/^[<>]/.test(w));
      const raw = (fnWords[0] ?? '').replace(/["']/g, '');
      filter = /\$\{?1\}?/.test(raw) ? raw.replace(/\$\{?1\}?/, arg) : arg;
      filter = filter.replace(/^\.+/, '.');
      if (!filter.startsWith('.')) filter = '.' + filter;
      fileWord = fnWords[1];
      pipeline = fn.body;
    }
    if (!filter) return undefined;
    const m = /^\s*(\.[^|\s]*)\s*(?:\/\/\s*("?)([^"|]*)\2)?\s*(\|\s*join\("([^"]*)"\))?/.exec(filter);
    if (!m) return undefined;
    const jpath = m[1]!;
    const joinWith = m[5] ?? (/join\("([^"]*)"\)/.exec(pipeline)?.[1] ?? undefined);
    let candidates = this.scan.data;
    if (fileWord) {
      const re = patternRegExp(this.pattern(fileWord, from, 0));
      const hits = this.scan.data.filter((d) => re.test(d.file));
      if (hits.length) candidates = hits;
    }
    for (const d of candidates) {
      const nodes = jqPath(d.root, jpath);
      if (!nodes) continue;
      const vals = nodes.flatMap((n) => (n.list ? n.list.map((x) => str(x)) : [str(n)])).filter((x): x is string => x !== undefined);
      if (!vals.length) continue;
      return { value: vals.join(joinWith ?? ','), via: [{ file: d.file, line: nodes[0]!.line }] };
    }
    if (m[3] !== undefined && m[2] !== undefined) return { value: m[3], via: [] };
    return undefined;
  }

  /** A word as a file pattern: what cannot be known becomes '\0' (a wildcard); variables are followed into their own assignments. */
  private pattern(word: string, from: Where | undefined, depth: number): string {
    return expandPattern(word, (n) => {
      const v = this.lookup(n, from, new Set(), 0)?.value;
      if (v !== undefined || depth > 4) return v;
      const a = this.candidates(n, from, new Set()).find((x) => !x.entries);
      return a ? this.pattern(a.raw, { file: a.file, line: a.line }, depth + 1) : undefined;
    });
  }

  private fileNamed(p: string): string | undefined {
    const clean = p.replace(/^\.\//, '');
    return this.scan.files.find((f) => f === clean || f.endsWith('/' + clean) || clean.endsWith('/' + f));
  }
}
