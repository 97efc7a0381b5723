/**
 * `harness init`: drafts harness.yaml from any deployment repo. scanRepo (init-scan.ts) reads
 * the repo; draftFromScan turns what it found into manifest text with comments, and three
 * lists: what it found (file:line), what it guessed, and what is left to fill in. Pure: no
 * writing, no network; the verb (init-cli.ts) writes the file.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { ManifestError, parseManifest } from './load.ts';
import { flatten, fmtWhere, Resolver, scanRepo, str, type LNode, type RepoScan, type Where } from './init-scan.ts';
import type { AwsCall } from './init-shell.ts';

export { scanRepo } from './init-scan.ts';

/** The escher-harness checkout (where harness.schema.json is). */
export const HARNESS_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCHEMA_FILE = path.join(HARNESS_ROOT, 'harness.schema.json');

export type TodoEffect = 'fails validation' | 'valid placeholder: confirm' | 'not in the draft';

export interface ReportItem {
  text: string;
  where: string[];
}
export interface TodoItem {
  text: string;
  effect: TodoEffect;
}

export interface Draft {
  /** the manifest text */
  text: string;
  found: ReportItem[];
  guessed: ReportItem[];
  todo: TodoItem[];
  families: { family: string; file: string }[];
  /** the first validation problem of the draft, undefined when it validates */
  invalid?: string;
  /** nothing recognisable: no task definitions, config or aws calls */
  empty: boolean;
}

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;
const AZ_RE = /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/;
const CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const VPC_RE = /^vpc-[0-9a-f]+$/;
const SUBNET_RE = /^subnet-[0-9a-f]+$/;
const ACCOUNT_RE = /^\d{12}$/;
const PLACEHOLDER = /\$\{[^}]*\}|\$[A-Za-z_]\w*|\{\{[^}]*\}\}|<[A-Za-z_][\w-]*>|__[A-Z][A-Z0-9_]*__|%[A-Z][A-Z0-9_]*%/;

/** Scans deployDir and drafts its manifest (to be written at manifestFile). */
export function draftManifest(deployDir: string, manifestFile = path.join(deployDir, 'harness.yaml')): Draft {
  return draftFromScan(scanRepo(deployDir), manifestFile);
}

/** The `# yaml-language-server: $schema=…` target: relative inside the harness checkout, else absolute. */
export function schemaRef(manifestFile: string): string {
  const dir = path.dirname(path.resolve(manifestFile));
  const inside = !path.relative(HARNESS_ROOT, dir).startsWith('..') && !path.isAbsolute(path.relative(HARNESS_ROOT, dir));
  return inside ? path.relative(dir, SCHEMA_FILE).split(path.sep).join('/') : SCHEMA_FILE;
}

export function draftFromScan(scan: RepoScan, manifestFile: string): Draft {
  return new Drafter(scan, manifestFile).draft();
}

interface Val {
  value: string;
  where: Where[];
  how: string;
}

const w = (ws: Where[]): string[] => [...new Set(ws.filter((x) => x.line > 0).map(fmtWhere))];

class Drafter {
  private readonly r: Resolver;
  private readonly found: ReportItem[] = [];
  private readonly guessed: ReportItem[] = [];
  private readonly todo: TodoItem[] = [];
  private readonly flat: { file: string; path: string; value: string; line: number }[];

  constructor(
    private readonly scan: RepoScan,
    private readonly manifestFile: string,
  ) {
    this.r = new Resolver(scan);
    this.flat = scan.data.flatMap((d) => flatten(d.root).map((e) => ({ file: d.file, path: e.path, value: e.value, line: e.line })));
  }

  private addFound(text: string, where: Where[]): void {
    this.found.push({ text, where: w(where) });
  }
  private addGuess(text: string, where: Where[] = []): void {
    this.guessed.push({ text, where: w(where) });
  }
  private addTodo(text: string, effect: TodoEffect): void {
    this.todo.push({ text, effect });
  }

  // ---------------------------------------------------------------- lookups

  /** A config value: a shell variable among names, else a JSON/YAML key whose last segment matches key (and whose path matches within). */
  private config(names: string[], key: RegExp | undefined, valid: RegExp, within?: RegExp, without?: RegExp): Val | undefined {
    for (const n of names) {
      const v = this.r.variable(n);
      if (v && valid.test(v.value)) return { value: v.value, where: v.via, how: n };
    }
    if (key) {
      for (const e of this.flat) {
        const last = /(?:\.([A-Za-z_][\w-]*)|\["([^"]+)"\])$/.exec(e.path);
        const k = last?.[1] ?? last?.[2];
        if (k && key.test(k) && valid.test(e.value) && (!within || within.test(e.path)) && !without?.test(e.path)) return { value: e.value, where: [{ file: e.file, line: e.line }], how: `${e.path} in ${e.file}` };
      }
    }
    return undefined;
  }

  /** The resolved values of a flag of an aws call. */
  private flag(c: AwsCall, f: string): { value: string; via: Where[] }[] {
    const at = { file: c.file, line: c.line };
    const out: { value: string; via: Where[] }[] = [];
    for (const word of c.flags.get(f) ?? []) {
      const r = this.r.word(word, at);
      if (r.value !== undefined && r.value !== '') out.push({ value: r.value, via: [at, ...r.via] });
    }
    return out;
  }

  private calls(service: string, op: RegExp): AwsCall[] {
    return this.scan.awsCalls.filter((c) => c.service === service && op.test(c.operation));
  }

  /** 'X' of Name=='X' (or another field) in --query, resolved. */
  private queryNames(c: AwsCall, field: string): { value: string; via: Where[] }[] {
    const out: { value: string; via: Where[] }[] = [];
    const at = { file: c.file, line: c.line };
    for (const word of c.flags.get('--query') ?? []) {
      // the query text as the shell gives it to aws, with ${…} resolved where possible
      const q = this.r.word(word, at);
      const text = q.value ?? word;
      for (const m of text.matchAll(new RegExp(String.raw`\b${field}\s*==\s*'([^']*)'`, 'g'))) {
        if (!m[1] || /\$/.test(m[1])) continue;
        out.push({ value: m[1], via: [at, ...q.via] });
      }
    }
    // … | jq --arg n "$pool" '.UserPools[] | select(.Name == $n)' (or == "literal")
    const args = new Map<string, string>();
    for (const m of c.text.matchAll(/--arg\s+(\w+)\s+("(?:[^"\\]|\\.)*"|'[^']*'|[^\s|;)]+)/g)) args.set(m[1]!, m[2]!);
    for (const m of c.text.matchAll(new RegExp(String.raw`\.${field}\s*==\s*(?:\$(\w+)|\\?"([^"\\]+)\\?")`, 'g'))) {
      const word = m[1] ? args.get(m[1]) : `'${m[2]}'`;
      if (!word) continue;
      const r = this.r.word(word, at);
      if (r.value && !out.some((x) => x.value === r.value)) out.push({ value: r.value, via: [at, ...r.via] });
    }
    return out;
  }

  private resolveText(s: string, at?: Where): { value: string; via: Where[]; unresolved: boolean } {
    // ${X}, {{X}}, {{ .X }}, <X> placeholders filled from the config where it names X
    const via: Where[] = [];
    let unresolved = false;
    const value = s.replace(/\$\{([A-Za-z_]\w*)\}|\{\{\s*\.?([A-Za-z_][\w.]*)\s*\}\}|<([A-Za-z_][\w-]*)>/g, (m, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      const v = this.r.variable(name, at) ?? this.r.variable(name.toUpperCase().replace(/[.-]/g, '_'), at);
      if (v) {
        via.push(...v.via);
        return v.value;
      }
      const j = this.flat.find((e) => e.path.replace(/^\./, '').toLowerCase() === name.toLowerCase() || e.path.toLowerCase().endsWith('.' + name.toLowerCase()));
      if (j) {
        via.push({ file: j.file, line: j.line });
        return j.value;
      }
      unresolved = true;
      return m;
    });
    return { value, via, unresolved };
  }

  // ---------------------------------------------------------------- the draft

  draft(): Draft {
    const scan = this.scan;
    const families = [...scan.taskDefs.map((t) => ({ family: t.family, file: t.file, line: t.line, guessed: t.familyGuessed })), ...scan.unparsed.flatMap((u) => u.families.map((f) => ({ family: f.family, file: u.file, line: f.line, guessed: true })))];
    for (const f of scan.taskDefs) this.addFound(`task definition family ${f.family}${f.familyGuessed ? ' (no family key: named after the file)' : ''}`, [{ file: f.file, line: f.line }]);
    for (const u of scan.unparsed) this.addTodo(`${u.file} mentions containerDefinitions but does not parse (${u.error}): families ${u.families.map((f) => f.family).join(', ')} named from its text; add its images, secrets and roles by hand`, 'not in the draft');
    for (const a of scan.alternatives) this.addGuess(`config ${a.chosen} used; ${a.file} holds the same keys (another environment?) and was set aside`);

    const region = this.region();
    const account = this.account();
    const commands = this.commands();
    const vpc = this.vpc(region?.value);
    const sgNames = this.securityGroupNames();
    const loadBalancers = this.loadBalancers(sgNames);
    const cognito = this.cognito();
    const roles = this.roles();
    const secrets = this.secrets(cognito.map((p) => p.userPool));
    const images = this.images();
    const hosts = this.hosts(secrets, sgNames);
    const empty = !scan.taskDefs.length && !scan.unparsed.length && !scan.awsCalls.length && !scan.assigns.some((a) => a.config) && !scan.data.length;

    const L: string[] = [];
    L.push(`# yaml-language-server: $schema=${schemaRef(this.manifestFile)}`);
    L.push('# What exists before the deploy scripts run (what CI and the platform team made); the scripts');
    L.push('# create the rest, and that is what the harness tests. Drafted by `npx harness init`: check every');
    L.push('# "guessed" and "TODO" comment below.');
    L.push(`region: ${sc(region?.value ?? 'TODO-region')}${region ? cm(region.how) : cm('TODO: the AWS region the scripts deploy to, e.g. us-west-2')}`);
    L.push(`account: ${sc(account.value)}${cm(account.how)}`);
    L.push('commands:');
    L.push(`  deployAll: ${sc(commands.deployAll.value)}${cm(commands.deployAll.how)}`);
    L.push(`  deployService: ${sc(commands.deployService.value)}${cm(commands.deployService.how)}`);
    L.push('  environment: {}');
    L.push('vpc:');
    L.push(`  id: ${sc(vpc.id.value)}${cm(vpc.id.how)}`);
    L.push(`  cidr: ${sc(vpc.cidr.value)}${cm(vpc.cidr.how)}`);
    L.push(`  subnets:${cm(vpc.subnetsHow)}`);
    for (const s of vpc.subnets) L.push(`    - { id: ${sc(s.id)}, cidr: ${sc(s.cidr)}, az: ${sc(s.az)} }`);
    if (loadBalancers.length) {
      L.push('loadBalancers:');
      for (const lb of loadBalancers) {
        L.push(`  - name: ${sc(lb.name.value)}${cm(lb.name.how)}`);
        L.push(`    listeners: [${lb.listeners.map((l) => `{ port: ${l.port}, protocol: ${l.protocol} }`).join(', ')}]${cm(lb.listenersHow)}`);
        L.push(`    securityGroups: [${lb.securityGroups.map(sc).join(', ')}]${cm(lb.sgHow)}`);
      }
    } else L.push('loadBalancers: []  # the scripts look up no load balancer by name');
    if (cognito.length) {
      L.push('cognito:');
      for (const p of cognito) {
        L.push(`  - userPool: ${sc(p.userPool)}${cm(p.how)}`);
        if (p.domain) L.push(`    domain: ${sc(p.domain.value)}${cm(p.domain.how)}`);
        L.push(`    clients: [${p.clients.map((c) => `{ name: ${sc(c.name)}, generateSecret: ${c.generateSecret} }`).join(', ')}]${cm(p.clientsHow)}`);
        L.push(`    users: [{ username: harness-test }]  # guessed: a test user the auth scenarios sign in as`);
      }
    } else L.push('cognito: []  # the scripts look up no Cognito user pool by name');
    L.push('iam:');
    if (roles.length) {
      L.push('  roles:');
      for (const r of roles) L.push(`    - ${sc(r.value)}${cm(r.how)}`);
    } else L.push('  roles: []  # no role names found (get-role, task definitions\' role ARNs)');
    if (secrets.length) {
      L.push('secrets:  # fake values; a mapping is stored as JSON');
      for (const s of secrets) L.push(`  ${sc(s.name)}: ${typeof s.value === 'string' ? sc(s.value) : `{ ${Object.entries(s.value).map(([k, v]) => `${sc(k)}: ${sc(v)}`).join(', ')} }`}${cm(s.how)}`);
    } else L.push('secrets: {}  # no secret referenced by the task definitions or scripts');
    L.push('images:');
    L.push(`  # task definition families: ${families.length ? families.map((f) => `${f.family} (${f.file})`).join(', ') : 'none found'}`);
    L.push(`  platforms: [${images.platforms.value.join(', ')}]${cm(images.platforms.how)}`);
    if (images.tags.length) {
      L.push('  tags:  # TODO: every release to seed (healthy in every repository); deploy-all ships the newest, deploy-single needs an older one too');
      for (const t of images.tags) L.push(`    ${sc(t.value)}: healthy${cm(t.how)}`);
    } else {
      L.push('  tags: {}  # TODO: the release tags the scripts deploy, e.g. { v1.4.0: healthy, v1.4.1: unhealthy }');
    }
    if (images.repositories.length) {
      L.push('  repositories:  # TODO for the rollback scenarios: a bad release in one of them, e.g. ' + `${sc(images.repositories.at(-1)!.name)}: { v9.9.9: unhealthy }`);
      for (const r of images.repositories) L.push(`    ${sc(r.name)}: {}${cm(r.how)}`);
    } else L.push('  repositories: {}  # TODO: no ECR image found in a task definition');
    const hostEntries = hosts.filter((h) => h.spec);
    if (hostEntries.length) {
      L.push('hosts:');
      for (const h of hostEntries) {
        L.push(`  ${sc(h.key)}:${cm(h.how)}`);
        for (const [k, v] of Object.entries(h.spec!)) L.push(`    ${k}: ${Array.isArray(v) ? `[${v.map((x) => sc(String(x))).join(', ')}]` : typeof v === 'number' ? v : sc(String(v))}`);
      }
    } else L.push('hosts: {}');
    for (const h of hosts.filter((x) => !x.spec)) L.push(`# ${h.how}`);
    L.push('# policy: the intended reachability, checked against the security groups the scripts created.');
    L.push('# Uncomment and complete, e.g.:');
    L.push('# policy:');
    const albSg = loadBalancers[0]?.securityGroups[0];
    const lbPort = loadBalancers[0]?.listeners[0]?.port ?? 443;
    L.push(`#   - { from: internet, to: ${albSg ?? 'my-alb-sg'}, ports: "${lbPort}" }`);
    const svcSgs = sgNames.map((s) => s.value).filter((s) => s !== albSg && !/surreal|db|database/i.test(s));
    L.push(`#   - { from: ${albSg ?? 'my-alb-sg'}, to: ${svcSgs[0] ?? 'my-service-sg'}, ports: "8080" }`);
    const dbSg = hostEntries.find((h) => h.spec?.kind === 'surrealdb')?.spec?.securityGroups as string[] | undefined;
    if (dbSg?.[0]) L.push(`#   - { from: ${svcSgs.at(-1) ?? 'my-service-sg'}, to: ${dbSg[0]}, ports: "${hostEntries.find((h) => h.spec?.kind === 'surrealdb')!.spec!.port}" }`);
    L.push('');
    const text = L.join('\n');

    let invalid: string | undefined;
    try {
      parseManifest(text, path.basename(this.manifestFile));
    } catch (e) {
      invalid = e instanceof ManifestError ? e.message : (e as Error).message;
    }
    if (empty) this.addTodo('nothing recognisable in this repo (no task definitions, config files or aws calls): every value is a TODO', 'fails validation');
    return { text, found: this.found, guessed: this.guessed, todo: this.todo, families: families.map((f) => ({ family: f.family, file: f.file })), invalid, empty };
  }

  // ---------------------------------------------------------------- sections

  private region(): Val | undefined {
    const c = this.config(['REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'DEFAULT_REGION'], /^(aws_?)?region$/i, REGION_RE);
    if (c) {
      this.addFound(`region ${c.value} (${c.how})`, c.where);
      return { ...c, how: `${w(c.where)[0] ?? ''} (${c.how})` };
    }
    for (const call of this.scan.awsCalls) {
      const v = this.flag(call, '--region').find((x) => REGION_RE.test(x.value));
      if (v) {
        this.addFound(`region ${v.value} (--region of an aws call)`, v.via);
        return { value: v.value, where: v.via, how: `${w(v.via)[0]} (--region)` };
      }
    }
    for (const t of this.scan.taskDefs)
      for (const c2 of t.containers) {
        const lr = c2.logRegion && this.resolveText(c2.logRegion.value).value;
        if (lr && REGION_RE.test(lr)) {
          const where = { file: t.file, line: c2.logRegion!.line };
          this.addFound(`region ${lr} (awslogs-region of ${t.family})`, [where]);
          return { value: lr, where: [where], how: `${fmtWhere(where)} (awslogs-region)` };
        }
      }
    const az = this.flat.find((e) => AZ_RE.test(e.value)) ?? this.scan.assigns.filter((a) => a.config).map((a) => ({ value: a.raw.replace(/["']/g, '').split(/[,\s]+/).find((x) => AZ_RE.test(x)), file: a.file, line: a.line })).find((x) => x.value);
    if (az?.value) {
      const region = az.value.split(/[,\s]+/).find((x) => AZ_RE.test(x))!.slice(0, -1);
      this.addGuess(`region ${region}, from availability zone ${az.value}`, [{ file: az.file, line: az.line }]);
      return { value: region, where: [], how: `guessed from availability zone ${az.value} (${az.file}:${az.line})` };
    }
    this.addTodo('region: no REGION/AWS_REGION setting, --region or awslogs-region found: written as TODO-region', 'fails validation');
    return undefined;
  }

  private account(): Val {
    const c = this.config(['ACCOUNT_ID', 'AWS_ACCOUNT_ID', 'ACCOUNT', 'AWS_ACCOUNT'], /^(aws_?)?account(_?id)?$/i, ACCOUNT_RE);
    if (c) {
      this.addFound(`account ${c.value} (${c.how})`, c.where);
      return { ...c, how: `${w(c.where)[0]} (${c.how})` };
    }
    for (const t of this.scan.taskDefs) {
      for (const s of [...t.roles.map((r) => ({ v: r.arn, line: r.line })), ...t.containers.flatMap((x) => (x.image ? [{ v: x.image.value, line: x.image.line }] : []))]) {
        const m = /(?:^|:)(\d{12})(?:\.dkr\.ecr|:)/.exec(s.v);
        if (m) {
          const where = { file: t.file, line: s.line };
          this.addFound(`account ${m[1]} (in ${t.family}'s task definition)`, [where]);
          return { value: m[1]!, where: [where], how: fmtWhere(where) };
        }
      }
    }
    const sts = this.calls('sts', /^get-caller-identity$/)[0];
    const how = sts ? `guessed: the scripts ask sts get-caller-identity (${sts.file}:${sts.line}); any twelve digits do` : 'guessed: no account id in the repo; any twelve digits do';
    this.addGuess(`account 000000000000${sts ? ' (the scripts read it from sts get-caller-identity)' : ''}`, sts ? [{ file: sts.file, line: sts.line }] : []);
    return { value: '000000000000', where: [], how };
  }

  private commands(): { deployAll: Val; deployService: Val } {
    const deploy = this.scan.scripts.filter((s) => /deploy|release|rollout/i.test(path.basename(s.file)));
    const usage = (s: { file: string; text: string }): { args: string[]; line: number } | undefined => {
      const lines = s.text.split(/\r?\n/);
      for (let i = 0; i < lines.length; i++) {
        const m = /usage:?\s+(?:%s|\$0|\$\{0[^}]*\}|\$\(basename [^)]*\)|\$\{?[A-Z_]*(?:PROG|SCRIPT|NAME|SELF)[A-Z_]*\}?|\.?\/?[\w./-]*\b(?:sh|deploy[\w-]*))\s+([^"'\n\\]*)/i.exec(lines[i]!);
        if (m) return { args: m[1]!.trim().split(/\s+/).filter(Boolean), line: i + 1 };
      }
      return undefined;
    };
    const envName = this.scan.alternatives[0]?.chosen ?? this.scan.data.find((d) => /(^|\/)(env|envs|environments|config|configs)\//.test(d.file))?.file;
    const mapArg = (a: string): string | undefined => {
      if (/^\[.*\]$/.test(a)) return '';
      const t = a.replace(/^[<{]|[>}]$/g, '').split('|');
      const has = (re: RegExp): boolean => t.some((x) => re.test(x));
      if (has(/^(version|tag|image[-_]?tag|release|ref)$/i)) return '{version}';
      if (has(/^(service|svc|component|app|name|service[-_]?name)$/i)) return '{service}';
      if (has(/^family$/i)) return '{family}';
      if (has(/^cluster$/i)) return '{cluster}';
      if (has(/^(env|environment|stage|target)$/i) && envName) return path.basename(envName).replace(/\.[^.]*$/, '');
      if (/^[a-z][\w-]*$/.test(a)) return a; // a literal word
      return undefined;
    };
    const build = (s: { file: string; text: string }): { cmd: string; line: number; unknown: string[]; hasService: boolean } | undefined => {
      const u = usage(s);
      if (!u) return undefined;
      const unknown: string[] = [];
      const parts = u.args.map((a) => {
        const m = mapArg(a);
        if (m === undefined) unknown.push(a);
        return m ?? a;
      });
      const cmd = [`./${s.file}`, ...parts.filter(Boolean)].join(' ');
      return { cmd, line: u.line, unknown, hasService: parts.includes('{service}') };
    };
    // the deploy-all command: a script named so, else one whose usage takes a version and no service
    const allScript = deploy.find((s) => /(deploy|release|rollout)[-_]?(all|everything|stack)/i.test(path.basename(s.file))) ?? deploy.find((s) => {
      const b = build(s);
      return b && !b.hasService && b.cmd.includes('{version}');
    });
    const oneScript = deploy.find((s) => s !== allScript && build(s)?.hasService) ?? deploy.find((s) => s !== allScript && !usage(s) && /^(deploy|release|rollout)([-_]?(service|svc|one))?(\.sh)?$/i.test(path.basename(s.file)));
    const val = (kind: string, s: { file: string; text: string } | undefined, fallback: string, alt?: string): Val => {
      if (!s) {
        if (alt) {
          this.addGuess(`commands.${kind}: ${alt}`);
          return { value: alt, where: [], how: 'guessed' };
        }
        this.addTodo(`commands.${kind}: no such deploy script found; written as the default ${fallback}`, 'valid placeholder: confirm');
        return { value: fallback, where: [], how: 'TODO: no deploy script found; the command the harness runs' };
      }
      const b = build(s);
      if (!b) {
        const cmd = `./${s.file} ${kind === 'deployAll' ? '{version}' : '{service} {version}'}`;
        this.addGuess(`commands.${kind}: ${cmd} (${s.file} prints no usage line)`, [{ file: s.file, line: 1 }]);
        return { value: cmd, where: [], how: 'guessed: check the arguments' };
      }
      if (b.unknown.length) {
        this.addTodo(`commands.${kind}: ${b.cmd}: replace ${b.unknown.join(', ')} (from the usage line ${s.file}:${b.line}) with values or {service}/{version}`, 'valid placeholder: confirm');
        return { value: b.cmd, where: [{ file: s.file, line: b.line }], how: `TODO: replace ${b.unknown.join(', ')}` };
      }
      this.addFound(`commands.${kind}: ${b.cmd} (usage line)`, [{ file: s.file, line: b.line }]);
      return { value: b.cmd, where: [{ file: s.file, line: b.line }], how: `usage line ${s.file}:${b.line}` };
    };
    const one = val('deployService', oneScript, './deploy.sh {service} {version}');
    const oneUsage = oneScript ? usage(oneScript) : undefined;
    const acceptsAll = oneUsage?.args.some((a) => a.split('|').some((x) => /^<?all>?$/.test(x)));
    const all = val('deployAll', allScript, './deploy-all.sh {version}', !allScript && oneScript && acceptsAll ? one.value.replace('{service}', 'all') : undefined);
    return { deployAll: all, deployService: one };
  }

  private vpc(region: string | undefined): { id: Val; cidr: Val; subnets: { id: string; cidr: string; az: string }[]; subnetsHow: string } {
    let id = this.config(['VPC_ID', 'VPC'], /^vpc(_?id)?$/i, VPC_RE);
    if (!id) {
      for (const c of this.scan.awsCalls) {
        const v = [...this.flag(c, '--vpc-id'), ...this.flag(c, '--vpc')].find((x) => VPC_RE.test(x.value));
        if (v) {
          id = { value: v.value, where: v.via, how: '--vpc-id' };
          break;
        }
      }
    }
    if (!id) {
      const e = this.flat.find((x) => VPC_RE.test(x.value));
      if (e) id = { value: e.value, where: [{ file: e.file, line: e.line }], how: `${e.path} in ${e.file}` };
    }
    let idVal: Val;
    if (id) {
      this.addFound(`vpc.id ${id.value} (${id.how})`, id.where);
      idVal = { ...id, how: `${w(id.where)[0]} (${id.how})` };
    } else {
      this.addTodo('vpc.id: no VPC id (VPC_ID, vpc.id, --vpc-id) found: written as TODO-vpc-id', 'fails validation');
      idVal = { value: 'TODO-vpc-id', where: [], how: 'TODO: the id of the VPC the scripts deploy into (vpc-…)' };
    }

    // subnets: shell variables holding subnet ids (with sibling CIDR/AZ variables), JSON lists or objects, --subnets
    type S = { id: string; cidr?: string; az?: string; where: Where[] };
    const subnets: S[] = [];
    const add = (s: S): void => {
      const have = subnets.find((x) => x.id === s.id);
      if (have) {
        have.cidr ??= s.cidr;
        have.az ??= s.az;
      } else subnets.push(s);
    };
    const split = (v: string): string[] => v.split(/[\s,]+/).filter(Boolean);
    const varNames = [...new Set(this.scan.assigns.map((a) => a.name))].filter((n) => /SUBNETS?(_IDS?)?$/i.test(n));
    varNames.sort((a, b) => Number(/PUBLIC/i.test(a)) - Number(/PUBLIC/i.test(b)));
    for (const n of varNames) {
      const arr = this.r.array(n);
      const v = arr ? { value: arr.entries.join(','), via: [arr.where] } : this.r.variable(n);
      if (!v) continue;
      const ids = split(v.value).filter((x) => SUBNET_RE.test(x));
      if (!ids.length) continue;
      const base = n.replace(/_?SUBNETS?(_IDS?)?$/i, '');
      const pre = base ? `${base}_` : '';
      const sib = (names: string[], re: RegExp): { list: string[]; via: Where[] } | undefined => {
        for (const s of names) {
          const a = this.r.array(s);
          const x = a ? { value: a.entries.join(','), via: [a.where] } : this.r.variable(s);
          if (!x) continue;
          const list = split(x.value);
          if (list.length === ids.length && list.every((y) => re.test(y))) return { list, via: x.via };
        }
        return undefined;
      };
      const cidrs = sib([`${pre}SUBNET_CIDRS`, `${pre}SUBNETS_CIDRS`, `${pre}SUBNET_CIDR_BLOCKS`, `${pre}CIDRS`, `${pre}SUBNET_CIDR`], CIDR_RE);
      const azs = sib([`${pre}SUBNET_AZS`, `${pre}SUBNETS_AZS`, `${pre}AZS`, `${pre}SUBNET_AZ`, `${pre}AVAILABILITY_ZONES`, 'AZS', 'AVAILABILITY_ZONES'], AZ_RE);
      ids.forEach((sid, i) => add({ id: sid, cidr: cidrs?.list[i], az: azs?.list[i], where: [...v.via, ...(cidrs?.via ?? []), ...(azs?.via ?? [])] }));
    }
    for (const d of this.scan.data) this.subnetsInData(d.root, d.file, add);
    for (const c of this.scan.awsCalls)
      for (const [f] of c.flags)
        for (const v of this.flag(c, f)) for (const m of v.value.matchAll(/\bsubnet-[0-9a-f]{8,17}\b/g)) add({ id: m[0], where: v.via });

    let cidr = this.config(['VPC_CIDR', 'VPC_CIDR_BLOCK', 'VPC_CIDR_RANGE'], /cidr(_?block)?$/i, CIDR_RE, /vpc/i, /subnet/i);
    let cidrVal: Val;
    if (cidr && !/subnet/i.test(cidr.how)) {
      this.addFound(`vpc.cidr ${cidr.value} (${cidr.how})`, cidr.where);
      cidrVal = { ...cidr, how: `${w(cidr.where)[0]} (${cidr.how})` };
    } else {
      cidr = undefined;
      const known = subnets.map((s) => s.cidr).filter((x): x is string => !!x);
      const cover = known.length ? covering(known) : undefined;
      if (cover) {
        this.addGuess(`vpc.cidr ${cover}: covers the subnets' CIDRs`);
        cidrVal = { value: cover, where: [], how: 'guessed: covers the subnets\' CIDRs' };
      } else {
        this.addTodo('vpc.cidr: written as 10.0.0.0/16', 'valid placeholder: confirm');
        cidrVal = { value: '10.0.0.0/16', where: [], how: 'TODO: a placeholder; the VPC\'s CIDR' };
      }
    }

    let subnetsHow: string;
    const out: { id: string; cidr: string; az: string }[] = [];
    if (!subnets.length) {
      this.addTodo('vpc.subnets: no subnet ids found: written as TODO-subnet-id', 'fails validation');
      subnetsHow = 'TODO: the subnets the tasks run in (subnet-…), with their CIDRs and zones';
      out.push({ id: 'TODO-subnet-id', cidr: subnetCidr(cidrVal.value, 0), az: region ? `${region}a` : 'TODO-az' });
    } else {
      const missing = subnets.filter((s) => !s.cidr || !s.az);
      subnets.forEach((s, i) => {
        out.push({ id: s.id, cidr: s.cidr ?? subnetCidr(cidrVal.value, i), az: s.az ?? (region ? `${region}${'abc'[i % 3]}` : 'TODO-az') });
        this.addFound(`subnet ${s.id}${s.cidr ? ` ${s.cidr}` : ''}${s.az ? ` ${s.az}` : ''}`, s.where);
      });
      if (missing.length) {
        this.addTodo(`vpc.subnets: ${missing.map((s) => s.id).join(', ')}: CIDR/zone not in the repo, written as placeholders${region ? '' : ' (TODO-az)'}`, region ? 'valid placeholder: confirm' : 'fails validation');
        subnetsHow = 'TODO: placeholder CIDRs/zones where the repo gives none';
      } else subnetsHow = 'with their CIDRs and zones from the config';
    }
    return { id: idVal, cidr: cidrVal, subnets: out, subnetsHow };
  }

  private subnetsInData(root: LNode, file: string, add: (s: { id: string; cidr?: string; az?: string; where: Where[] }) => void): void {
    const visit = (n: LNode): void => {
      if (n.list) {
        const strs = n.list.map(str);
        if (strs.length && strs.every((x) => x && SUBNET_RE.test(x))) return; // handled by the parent (siblings)
        for (const x of n.list) {
          const vals = x.map ? [...x.map.values()].map(str) : [];
          const sid = vals.find((v) => v && SUBNET_RE.test(v));
          if (sid) add({ id: sid, cidr: vals.find((v) => v && CIDR_RE.test(v)), az: vals.find((v) => v && AZ_RE.test(v)), where: [{ file, line: x.line }] });
          else visit(x);
        }
        return;
      }
      if (!n.map) return;
      for (const [k, v] of n.map) {
        const strs = v.list?.map(str);
        if (strs?.length && strs.every((x) => x && SUBNET_RE.test(x))) {
          const sib = (re: RegExp, valid: RegExp): string[] | undefined => {
            for (const [k2, v2] of n.map!) {
              if (k2 === k || !re.test(k2)) continue;
              const l = v2.list?.map(str);
              if (l?.length === strs.length && l.every((x) => x && valid.test(x))) return l as string[];
            }
            return undefined;
          };
          const cidrs = sib(/cidr/i, CIDR_RE);
          const azs = sib(/az|zone/i, AZ_RE);
          strs.forEach((sid, i) => add({ id: sid!, cidr: cidrs?.[i], az: azs?.[i], where: [{ file, line: v.list![i]!.line }] }));
        } else if (str(v) && SUBNET_RE.test(str(v)!) && AZ_RE.test(k)) {
          add({ id: str(v)!, az: k, where: [{ file, line: v.line }] });
        } else visit(v);
      }
    };
    visit(root);
  }

  private securityGroupNames(): Val[] {
    const out: Val[] = [];
    const add = (value: string, where: Where[], how: string): void => {
      if (!value || /[\s$]/.test(value) || out.some((x) => x.value === value)) return;
      out.push({ value, where, how });
    };
    for (const n of new Set(this.scan.assigns.map((a) => a.name))) {
      if (!/SECURITY_GROUPS?$|(^|_)SGS?$|_SG_NAMES?$/i.test(n)) continue;
      const arr = this.r.array(n);
      if (arr)
        for (const e of arr.entries) {
          const words = e.split(/\s+/);
          const named = words.filter((x) => /(^|[-_])sg([-_]|$)|security|firewall/i.test(x));
          for (const x of named.length ? named : words.slice(0, 1)) add(x, [arr.where], n);
        }
    }
    for (const c of this.calls('ec2', /^create-security-group$/)) for (const v of this.flag(c, '--group-name')) add(v.value, v.via, 'create-security-group');
    for (const d of this.scan.data) {
      if (!/security|(^|[/_-])sgs?([._-]|$)|firewall|network/i.test(d.file)) continue;
      const visit = (n: LNode, key: string): void => {
        if (n.map) for (const [k, v] of n.map) {
          if (/^(group_?name|name|GroupName)$/i.test(k) && str(v)) add(str(v)!, [{ file: d.file, line: v.line }], d.file);
          else if (v.map && /sg$|group/i.test(k)) add(k, [{ file: d.file, line: v.line }], d.file);
          visit(v, k);
        }
        if (n.list) for (const x of n.list) visit(x, key);
      };
      visit(d.root, '');
    }
    return out;
  }

  private loadBalancers(sgs: Val[]): { name: Val; listeners: { port: number; protocol: string }[]; listenersHow: string; securityGroups: string[]; sgHow: string }[] {
    const created = new Set(this.calls('elbv2', /^create-load-balancer$/).flatMap((c) => this.flag(c, '--name').map((v) => v.value)));
    const names: Val[] = [];
    const add = (v: { value: string; via: Where[] }, how: string): void => {
      if (created.has(v.value) || names.some((n) => n.value === v.value)) return;
      names.push({ value: v.value, where: v.via, how });
    };
    for (const c of this.calls('elbv2', /^describe-load-balancers$/)) {
      for (const v of this.flag(c, '--names')) add(v, 'describe-load-balancers --names');
      for (const v of this.queryNames(c, 'LoadBalancerName')) add(v, 'describe-load-balancers --query');
      for (const v of this.flag(c, '--load-balancer-arns')) {
        const m = /loadbalancer\/(?:app|net)\/([^/]+)\//.exec(v.value);
        if (m) add({ value: m[1]!, via: v.via }, 'describe-load-balancers --load-balancer-arns');
      }
    }
    if (!names.length && !created.size) {
      const c = this.config(['ALB_NAME', 'LB_NAME', 'LOAD_BALANCER_NAME', 'ELB_NAME', 'ALB'], /^(alb|lb|elb|load_?balancer)(_?name)?$|^name$/i, /^[A-Za-z0-9-]{1,32}$/, /alb|lb|balancer/i);
      if (c) {
        this.addGuess(`load balancer ${c.value}: named in the config (${c.how}), though no describe-load-balancers call was followed to it`, c.where);
        names.push({ ...c, how: `guessed: ${c.how}` });
      }
    } else for (const n of names) this.addFound(`load balancer ${n.value} (${n.how})`, n.where);
    const ports: { port: number; where: Where }[] = [];
    for (const c of this.calls('elbv2', /^describe-listeners$/)) {
      for (const word of c.flags.get('--query') ?? []) {
        const q = this.r.word(word, { file: c.file, line: c.line });
        for (const m of (q.value ?? word).matchAll(/Port\s*==\s*`?'?(\d+)/g)) ports.push({ port: Number(m[1]), where: { file: c.file, line: c.line } });
      }
    }
    if (!ports.length) {
      const c = this.config(['ALB_LISTENER_PORT', 'LISTENER_PORT', 'LB_PORT'], /^listener_?port$/i, /^\d{1,5}$/);
      if (c) ports.push({ port: Number(c.value), where: c.where[0] ?? { file: '', line: 0 } });
    }
    const uniq = [...new Map(ports.map((p) => [p.port, p])).values()];
    const listeners = uniq.length ? uniq.map((p) => ({ port: p.port, protocol: p.port === 80 || p.port === 8080 ? 'HTTP' : 'HTTPS' })) : [{ port: 443, protocol: 'HTTPS' }];
    if (uniq.length && names.length) this.addFound(`listener port${uniq.length > 1 ? 's' : ''} ${uniq.map((p) => p.port).join(', ')}`, uniq.map((p) => p.where));
    const lbSg = sgs.find((s) => /(^|[-_])(alb|elb|lb|nlb|load-?balancer|ingress|public)([-_]|$)/i.test(s.value));
    return names.map((n) => {
      if (lbSg) this.addGuess(`load balancer ${n.value} in security group ${lbSg.value} (its name says so; ${lbSg.how})`, lbSg.where);
      else this.addTodo(`loadBalancers[${n.value}].securityGroups: left empty: name the group the scripts create for it`, 'valid placeholder: confirm');
      return {
        name: { ...n, how: `${w(n.where).join(', ')} (${n.how})` },
        listeners,
        listenersHow: uniq.length ? `${w(uniq.map((p) => p.where))[0]}` : 'guessed: the usual HTTPS listener',
        securityGroups: lbSg ? [lbSg.value] : [],
        sgHow: lbSg ? `guessed from its name (${w(lbSg.where)[0] ?? lbSg.how})` : 'TODO: the groups (by name) the scripts create for the load balancer',
      };
    });
  }

  private cognito(): { userPool: string; how: string; domain?: { value: string; how: string }; clients: { name: string; generateSecret: boolean }[]; clientsHow: string }[] {
    const created = new Set(this.calls('cognito-idp', /^create-user-pool$/).flatMap((c) => this.flag(c, '--pool-name').map((v) => v.value)));
    const pools: { name: string; where: Where[]; how: string; line: number; file: string }[] = [];
    for (const c of this.calls('cognito-idp', /^list-user-pools$/)) {
      for (const v of this.queryNames(c, 'Name')) if (!created.has(v.value) && !pools.some((p) => p.name === v.value)) pools.push({ name: v.value, where: v.via, how: "list-user-pools Name=='…'", file: c.file, line: c.line });
    }
    for (const c of this.calls('cognito-idp', /^(describe-user-pool|list-user-pool-clients|admin-\w+|describe-user-pool-client)$/)) {
      for (const v of this.flag(c, '--user-pool-id')) {
        if (/^[a-z]{2}-[a-z]+-\d_\w+$/.test(v.value)) this.addTodo(`the scripts use the user pool id ${v.value} (${w(v.via)[0]}): the harness makes its own ids; look the pool up by name or pass the id through commands.environment`, 'not in the draft');
      }
    }
    if (!pools.length && !created.size) {
      const c = this.config(['COGNITO_USER_POOL_NAME', 'USER_POOL_NAME', 'COGNITO_POOL_NAME', 'COGNITO_POOL'], /^(user_?pool|pool)(_?name)?$|^name$/i, /^[\w+=,.@-]{1,128}$/, /cognito|pool/i);
      if (c) {
        this.addGuess(`Cognito user pool ${c.value}: named in the config (${c.how})`, c.where);
        pools.push({ name: c.value, where: c.where, how: `guessed: ${c.how}`, file: '', line: 0 });
      }
    } else for (const p of pools) this.addFound(`Cognito user pool ${p.name} (${p.how})`, p.where);
    if (!pools.length) return [];
    const clients = new Map<string, { name: string; where: Where[] }[]>();
    for (const c of this.calls('cognito-idp', /^list-user-pool-clients$/)) {
      // the pool of the nearest pool lookup before it in the same file, else the first pool
      const pool = [...pools].filter((p) => p.file === c.file && p.line <= c.line).sort((a, b) => b.line - a.line)[0] ?? pools[0]!;
      for (const v of this.queryNames(c, 'ClientName')) {
        const l = clients.get(pool.name) ?? [];
        if (!l.some((x) => x.name === v.value)) l.push({ name: v.value, where: v.via });
        clients.set(pool.name, l);
        this.addFound(`Cognito app client ${v.value} of ${pool.name} (list-user-pool-clients ClientName=='…')`, v.via);
      }
    }
    if (!clients.size) {
      const c = this.config(['COGNITO_CLIENT_NAME', 'COGNITO_ALB_CLIENT_NAME', 'CLIENT_NAME', 'APP_CLIENT_NAME'], /^(app_?)?client(_?name)?$/i, /^[\w+=,.@ -]{1,128}$/, /cognito|client/i);
      if (c) {
        this.addGuess(`Cognito app client ${c.value}: named in the config (${c.how})`, c.where);
        clients.set(pools[0]!.name, [{ name: c.value, where: c.where }]);
      }
    }
    const albAuth = this.scan.scripts.find((s) => /authenticate-cognito/.test(s.text));
    const albAuthWhere = albAuth ? [{ file: albAuth.file, line: albAuth.text.split('\n').findIndex((l) => l.includes('authenticate-cognito')) + 1 }] : [];
    const wantsDomain = this.calls('cognito-idp', /^describe-user-pool$/).find((c) => (c.flags.get('--query') ?? []).some((q) => /Domain/.test(q)));
    const domainCfg = this.config(['COGNITO_DOMAIN', 'USER_POOL_DOMAIN', 'COGNITO_USER_POOL_DOMAIN', 'AUTH_DOMAIN', 'COGNITO_DOMAIN_PREFIX'], /^(user_?pool_?)?domain(_?prefix)?$/i, /^[a-z0-9][a-z0-9.-]*$/, /cognito|pool|auth/i);
    return pools.map((p, i) => {
      let domain: { value: string; how: string } | undefined;
      if (domainCfg && i === 0) {
        const prefix = domainCfg.value.split('.')[0]!;
        this.addFound(`Cognito domain ${prefix} (${domainCfg.how})`, domainCfg.where);
        domain = { value: prefix, how: `${w(domainCfg.where)[0]} (${domainCfg.how})` };
      } else if (wantsDomain || albAuth) {
        const prefix = `${p.name.toLowerCase().replace(/[-_]?(users?|user[-_]?pool|pool)$/, '').replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'harness'}-auth`;
        this.addGuess(`Cognito domain ${prefix} for ${p.name}: the scripts need the pool's hosted-UI domain${wantsDomain ? ` (${wantsDomain.file}:${wantsDomain.line} reads UserPool.Domain)` : ' (authenticate-cognito)'}; any prefix will do`);
        domain = { value: prefix, how: 'guessed: the scripts read the pool\'s domain; any prefix will do' };
      }
      const cl = clients.get(p.name) ?? [];
      const list = cl.map((c) => ({ name: c.name, generateSecret: !!albAuth || /alb|elb|lb/i.test(c.name) }));
      if (list.some((c) => c.generateSecret)) this.addGuess(`app client${list.length > 1 ? 's' : ''} of ${p.name} with a client secret${albAuth ? ': the ALB\'s authenticate-cognito action needs one' : ''}`, albAuthWhere);
      if (!list.length) this.addTodo(`cognito[${p.name}].clients: no app client looked up by name; add the ones the scripts use`, 'valid placeholder: confirm');
      this.addGuess(`test user harness-test in ${p.name}`);
      return {
        userPool: p.name,
        how: `${w(p.where).join(', ')} (${p.how})`,
        ...(domain ? { domain } : {}),
        clients: list,
        clientsHow: cl.length ? `${w(cl.flatMap((c) => c.where)).join(', ')}${list.some((c) => c.generateSecret) ? '; generateSecret guessed (authenticate-cognito needs one)' : ''}` : 'TODO: the app clients the scripts look up',
      };
    });
  }

  private roles(): Val[] {
    const out: Val[] = [];
    const created = new Set(this.calls('iam', /^create-role$/).flatMap((c) => this.flag(c, '--role-name').map((v) => v.value)));
    const add = (name: string, where: Where[], how: string): void => {
      if (created.has(name)) return;
      const have = out.find((r) => r.value === name);
      if (have) have.where.push(...where);
      else out.push({ value: name, where: [...where], how });
    };
    const fromArn = (arn: string): string | undefined => /:role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/.exec(arn)?.[1];
    for (const t of this.scan.taskDefs)
      for (const r of t.roles) {
        const res = this.resolveText(r.arn);
        const name = fromArn(res.value);
        if (!name) continue;
        if (PLACEHOLDER.test(name)) this.addTodo(`role ${name} (${t.file}:${r.line}) keeps a placeholder: add the rendered name under iam.roles`, 'not in the draft');
        else add(name, [{ file: t.file, line: r.line }, ...res.via], `role ARN in ${t.family}`);
      }
    for (const c of this.scan.awsCalls) {
      if (c.service === 'iam' && c.operation !== 'create-role' && c.operation !== 'delete-role') for (const v of this.flag(c, '--role-name')) add(v.value, v.via, `${c.operation} --role-name`);
      for (const [f] of c.flags) if (/role-arn$/.test(f)) for (const v of this.flag(c, f)) { const n = fromArn(v.value); if (n) add(n, v.via, `${c.operation} ${f}`); }
    }
    for (const e of this.flat) {
      const n = fromArn(e.value) ?? (/(^|[._])(execution|task|service)?_?role(_?name)?$/i.test(e.path) && /^[\w+=,.@-]{1,64}$/.test(e.value) ? e.value : undefined);
      if (n && !PLACEHOLDER.test(n)) add(n, [{ file: e.file, line: e.line }], `${e.path} in ${e.file}`);
    }
    const unfilled = this.scan.taskDefs.flatMap((t) => t.roles.filter((r) => { const res = this.resolveText(r.arn); return !fromArn(res.value) && res.unresolved; }).map((r) => ({ t, r })));
    if (unfilled.length) {
      const phs = [...new Set(unfilled.map((x) => x.r.arn))];
      this.addTodo(`role ARNs ${phs.join(', ')} of ${new Set(unfilled.map((x) => x.t.family)).size} task definition(s) (e.g. ${unfilled[0]!.t.file}:${unfilled[0]!.r.line}) are placeholders the scripts fill: check that iam.roles names every role they become`, 'valid placeholder: confirm');
    }
    for (const r of out) this.addFound(`IAM role ${r.value} (${r.how})`, r.where);
    return out.map((r) => ({ ...r, how: w(r.where).slice(0, 2).join(', ') + (w(r.where).length > 2 ? ', …' : '') }));
  }

  private secrets(pools: string[]): { name: string; value: string | Record<string, string>; how: string; where: Where[] }[] {
    const refs = new Map<string, { keys: Set<string>; where: Where[]; envNames: Set<string> }>();
    const ref = (name: string, key: string | undefined, where: Where[], envName?: string): void => {
      const r = refs.get(name) ?? { keys: new Set<string>(), where: [], envNames: new Set<string>() };
      if (key) r.keys.add(key);
      if (envName) r.envNames.add(envName);
      r.where.push(...where);
      refs.set(name, r);
    };
    const created = new Set(this.calls('secretsmanager', /^create-secret$/).flatMap((c) => this.flag(c, '--name').map((v) => v.value)));
    for (const t of this.scan.taskDefs)
      for (const c of t.containers)
        for (const s of c.secrets) {
          const where = { file: t.file, line: s.line };
          const res = this.resolveText(s.valueFrom);
          const v = res.value;
          const m = /^arn:[^:]*:secretsmanager:[^:]*:[^:]*:secret:([^:]+)(?::([^:]*):([^:]*):([^:]*))?$/.exec(v);
          // ${DB_SECRET_ARN}:password:: whose variable the config sets to a secret's name
          const viaPlaceholder = !res.unresolved && /^\$\{[^}]*secret[^}]*\}|^\{\{[^}]*secret/i.test(s.valueFrom) ? /^([^:]+)(?::([^:]*):([^:]*):([^:]*))?$/.exec(v) : null;
          if (m) ref(m[1]!, m[2] || undefined, [where, ...res.via], s.name);
          else if (viaPlaceholder) ref(viaPlaceholder[1]!, viaPlaceholder[2] || undefined, [where, ...res.via], s.name);
          else if (/^arn:[^:]*:ssm:/.test(v) || !v.startsWith('arn:')) {
            if (PLACEHOLDER.test(v) && !v.includes('/')) this.addTodo(`secret ${s.name} of ${t.family} comes from ${s.valueFrom} (${fmtWhere(where)}), a placeholder: add the secret it names under secrets`, 'not in the draft');
            else this.addTodo(`secret ${s.name} of ${t.family} is an SSM parameter (${s.valueFrom}, ${fmtWhere(where)}): the harness seeds Secrets Manager only`, 'not in the draft');
          }
        }
    for (const c of this.calls('secretsmanager', /^(get-secret-value|describe-secret|put-secret-value|update-secret|get-resource-policy)$/)) {
      for (const v of this.flag(c, '--secret-id')) {
        const name = /:secret:([^:]+)/.exec(v.value)?.[1] ?? v.value;
        if (!created.has(name)) ref(name, undefined, v.via);
      }
    }
    for (const c of this.calls('secretsmanager', /^list-secrets$/)) for (const v of this.queryNames(c, 'Name')) if (!created.has(v.value)) ref(v.value, undefined, v.via);
    const out: { name: string; value: string | Record<string, string>; how: string; where: Where[] }[] = [];
    for (const [name, r] of refs) {
      if (PLACEHOLDER.test(name)) {
        this.addTodo(`secret ${name} (${w(r.where)[0]}) keeps a placeholder: add the rendered name under secrets`, 'not in the draft');
        continue;
      }
      const hint = `${name} ${[...r.envNames].join(' ')}`;
      let value: string | Record<string, string>;
      let how = 'fake';
      if (r.keys.size) {
        const rootish = /root|admin|master|surreal|(^|[/_-])db([/_-]|$)|database/i.test(name);
        value = Object.fromEntries([...r.keys].map((k) => [k, /user/i.test(k) ? (rootish ? 'root' : 'harness') : /pass|secret|token|key/i.test(k) ? `harness-fake-${k.toLowerCase()}` : `fake-${k}`]));
        how = `fake; JSON keys ${[...r.keys].join(', ')}`;
      } else if (/anthropic/i.test(hint)) value = 'sk-ant-harness-0000000000000000-not-a-real-key';
      else if (/jwks/i.test(hint) && pools.length) {
        value = `{cognito.${pools[0]}.jwksUrl}`;
        how = 'the pool\'s JWKS URL (filled in by the harness)';
      } else if (/issuer/i.test(hint) && pools.length) {
        value = `{cognito.${pools[0]}.issuer}`;
        how = 'the pool\'s issuer (filled in by the harness)';
      } else if (/user[-_]?pool[-_]?id/i.test(hint) && pools.length) {
        value = `{cognito.${pools[0]}.id}`;
        how = 'the pool\'s id (filled in by the harness)';
      } else value = `harness-fake-${name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
      this.addFound(`secret ${name}${r.keys.size ? ` (JSON keys ${[...r.keys].join(', ')})` : ''}`, r.where);
      if (typeof value === 'string' && value.startsWith('{cognito.')) this.addGuess(`secret ${name} = ${value}`);
      out.push({ name, value, how: `${how}; ${w(r.where).slice(0, 2).join(', ')}${w(r.where).length > 2 ? ', …' : ''}`, where: r.where });
    }
    return out;
  }

  /** A config entry for this service (it names the task definition file, the container or the family) holding its repository or image. */
  private repositoryInConfig(file: string, family: string, container: string | undefined): Val | undefined {
    const names = new Set([family, container].filter((x): x is string => !!x));
    for (const d of this.scan.data) {
      let hit: Val | undefined;
      const visit = (n: LNode, key: string): void => {
        if (hit || !n.map) {
          if (n.list) for (const x of n.list) visit(x, key);
          return;
        }
        const vals = [...n.map.entries()];
        const mine = names.has(key) || vals.some(([k, v]) => { const x = str(v); return !!x && ((x === file || file.endsWith('/' + x.replace(/^\.\//, ''))) || (/container|family|name/i.test(k) && names.has(x))); });
        if (mine) {
          for (const [k, v] of vals) {
            const x = str(v);
            if (!x) continue;
            if (/^(repository|repo|ecr_?repo(sitory)?|repository_?name|image_?repo(sitory)?)$/i.test(k)) hit = { value: x, where: [{ file: d.file, line: v.line }], how: `${k} in ${d.file}` };
            else if (/^image$/i.test(k) && parseImage(x)?.ecr) hit = { value: parseImage(x)!.repository, where: [{ file: d.file, line: v.line }], how: `${k} in ${d.file}` };
            if (hit) return;
          }
        }
        for (const [k, v] of vals) visit(v, k);
      };
      visit(d.root, '');
      if (hit) return hit;
    }
    return undefined;
  }

  private images(): { platforms: { value: string[]; how: string }; tags: Val[]; repositories: { name: string; how: string }[] } {
    const repos = new Map<string, { families: string[]; where: Where[] }>();
    const literalTags: Val[] = [];
    const fromConfig = new Set<string>();
    const repoCalls = this.scan.awsCalls.flatMap((c) => (c.service === 'ecr' ? [...this.flag(c, '--repository-name'), ...this.flag(c, '--repository-names')] : []));
    for (const t of this.scan.taskDefs)
      for (const c of t.containers) {
        if (!c.image) continue;
        const where = { file: t.file, line: c.image.line };
        const res = this.resolveText(c.image.value);
        const img = res.value;
        let p: ReturnType<typeof parseImage>;
        if (/^(\$\{[^}]*\}|\$[A-Za-z_]\w*|\{\{[^}]*\}\}|<[\w-]+>)$/.test(c.image.value.trim()) && res.unresolved) {
          // the whole image is a placeholder: the config's entry for this service, else the repository the scripts name, else the container's name
          const cfg = this.repositoryInConfig(t.file, t.family, c.name);
          if (cfg) {
            this.addFound(`repository ${cfg.value} for ${t.family} (its image is ${c.image.value}; ${cfg.how})`, [where, ...cfg.where]);
            p = { repository: cfg.value, ecr: true };
            fromConfig.add(cfg.value);
          } else {
            const guess = repoCalls.find((v) => v.value.endsWith(c.name ?? t.family) || v.value.endsWith(t.family))?.value ?? c.name ?? t.family;
            this.addGuess(`repository ${guess} for ${t.family}: its image is the placeholder ${c.image.value}`, [where]);
            p = { repository: guess, ecr: true };
          }
        } else p = parseImage(img);
        if (!p) continue;
        if (!p.ecr) {
          this.addTodo(`image ${c.image.value} of ${t.family} (${fmtWhere(where)}) is not from ECR: the harness seeds ECR repositories only`, 'not in the draft');
          continue;
        }
        const r = repos.get(p.repository) ?? { families: [], where: [] };
        if (!r.families.includes(t.family)) r.families.push(t.family);
        r.where.push(where);
        repos.set(p.repository, r);
        if (PLACEHOLDER.test(p.repository)) this.addTodo(`repository ${p.repository} (${fmtWhere(where)}) keeps a placeholder: write the name the scripts render`, 'valid placeholder: confirm');
        if (p.tag && !PLACEHOLDER.test(p.tag) && !/^[A-Z][A-Z0-9_]*$/.test(p.tag)) literalTags.push({ value: p.tag, where: [where], how: `${fmtWhere(where)} (pinned in ${t.family})` });
      }
    for (const [name, r] of repos) if (!fromConfig.has(name)) this.addFound(`ECR repository ${name} (image of ${r.families.join(', ')})`, r.where);
    const tags: Val[] = [];
    for (const t of [...literalTags, ...this.scan.tags.map((x) => ({ value: x.tag, where: [x.where], how: `${fmtWhere(x.where)} (${x.how})` }))]) {
      if (!tags.some((x) => x.value === t.value)) tags.push(t);
    }
    tags.sort((a, b) => cmpVersion(a.value, b.value));
    for (const t of tags) this.addFound(`release tag ${t.value} (${t.how.replace(/^.*\((.*)\)$/, '$1')})`, t.where);
    this.addTodo(`images.tags: ${tags.length ? `only ${tags.map((t) => t.value).join(', ')} found` : 'no release tag found (deploy-all then has nothing to ship)'}: list the releases to seed (deploy-all ships the newest healthy one, deploy-single needs an older one too) and, for the rollback scenarios, a release unhealthy in one repository (images.repositories.<repo>: { <tag>: unhealthy })`, 'valid placeholder: confirm');
    const archs = new Set<string>();
    const archWhere: Where[] = [];
    for (const t of this.scan.taskDefs) {
      const a = t.arch?.value.toUpperCase();
      archs.add(a === 'ARM64' ? 'linux/arm64' : 'linux/amd64');
      if (t.arch) archWhere.push({ file: t.file, line: t.arch.line });
    }
    let platforms: { value: string[]; how: string };
    if (archs.size) {
      platforms = { value: [...archs].sort().reverse(), how: `runtimePlatform.cpuArchitecture${this.scan.taskDefs.some((t) => !t.arch) ? ' (X86_64 where unset, as Fargate)' : ''}` };
      this.addFound(`platforms ${platforms.value.join(', ')} (${platforms.how})`, archWhere.slice(0, 1));
    } else platforms = { value: ['linux/arm64'], how: 'guessed: no task definition says' };
    return {
      platforms,
      tags,
      repositories: [...repos].map(([name, r]) => ({ name, how: `${r.families.length > 1 ? 'families' : 'family'} ${r.families.join(', ')} (${w(r.where).slice(0, 2).join(', ')}${r.where.length > 2 ? ', …' : ''})` })),
    };
  }

  private hosts(secrets: { name: string }[], sgs: Val[]): { key: string; spec?: Record<string, unknown>; how: string }[] {
    const ns = this.config(['NAMESPACE', 'NAMESPACE_NAME', 'CLOUDMAP_NAMESPACE', 'SERVICE_DISCOVERY_NAMESPACE', 'DNS_NAMESPACE'], /namespace(_?name)?$/i, /^[a-z0-9][a-z0-9.-]*$/i)?.value
      ?? this.calls('servicediscovery', /^create-(private|public)-dns-namespace$/).flatMap((c) => this.flag(c, '--name'))[0]?.value;
    const services = new Set<string>();
    for (const t of this.scan.taskDefs) {
      services.add(t.family);
      for (const c of t.containers) if (c.name) services.add(c.name);
    }
    for (const n of ['SERVICES', 'SERVICE_LIST', 'SERVICE_NAMES', 'APPS']) {
      const v = this.r.variable(n) ?? (this.r.array(n) ? { value: this.r.array(n)!.entries.join(' ') } : undefined);
      if (v) for (const s of v.value.split(/[\s,]+/)) if (s) services.add(s);
    }
    for (const e of this.flat) if (/\.services?(\[\d+\])?(\.name)?$/i.test(e.path)) services.add(e.value);
    for (const c of this.calls('servicediscovery', /^create-service$/)) for (const v of this.flag(c, '--name')) services.add(v.value);
    for (const d of this.scan.data) {
      const s = d.root.map?.get('services');
      if (s?.map) for (const k of s.map.keys()) services.add(k);
    }
    const out: { key: string; spec?: Record<string, unknown>; how: string }[] = [];
    const seen = new Set<string>();
    let surreal = false;
    for (const t of this.scan.taskDefs)
      for (const c of t.containers)
        for (const e of c.environment) {
          if (!/_(URL|URI|ENDPOINT|HOST|ADDR|ADDRESS)$/i.test(e.name)) continue;
          const where = { file: t.file, line: e.line };
          const res = this.resolveText(e.value);
          const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(?:[^@/]*@)?([A-Za-z0-9.-]+)(?::(\d+))?/i.exec(res.value);
          if (!m || PLACEHOLDER.test(res.value.split('/')[2] ?? res.value)) continue;
          const host = m[2]!.toLowerCase();
          const first = host.split('.')[0]!;
          const inNs = ns ? host === ns || host.endsWith('.' + ns.toLowerCase()) : false;
          if (services.has(first) && (inNs || !ns || host.split('.').length <= 2)) continue; // a Cloud Map name of one of the repo's services
          if (seen.has(host)) continue;
          seen.add(host);
          const internal = inNs || !host.includes('.') || /\.(internal|local|svc|lan|corp|private|intra|cluster\.local)$/.test(host);
          if (/anthropic/.test(host)) continue; // the anthropic host below
          if (/surreal/i.test(`${host} ${e.name} ${c.image?.value ?? ''}`) && !surreal) {
            surreal = true;
            const port = Number(m[3] ?? (m[1] === 'https' || m[1] === 'wss' ? 443 : 8000));
            const sg = sgs.find((s) => /surreal/i.test(s.value)) ?? sgs.find((s) => /(^|[-_])(db|database|data)([-_]|$)/i.test(s.value));
            const root = secrets.find((s) => /surreal/i.test(s.name));
            const spec: Record<string, unknown> = { kind: 'surrealdb', dns: host, port, securityGroups: sg ? [sg.value] : [] };
            if (root) spec.rootSecret = root.name;
            this.addFound(`SurrealDB host ${host}:${port} (${e.name} of ${t.family}, not a Cloud Map name of the repo's services)`, [where, ...res.via]);
            if (sg) this.addGuess(`SurrealDB in security group ${sg.value} (its name says so)`, sg.where);
            else this.addTodo('hosts.surrealdb.securityGroups: left empty: name the group the scripts create for the database', 'valid placeholder: confirm');
            if (root) this.addGuess(`SurrealDB root credentials in secret ${root.name}`);
            out.push({ key: first.replace(/[^A-Za-z0-9_-]/g, '') || 'surrealdb', spec, how: `${fmtWhere(where)} (${e.name})` });
          } else if (!internal) {
            this.addTodo(`${e.name} of ${t.family} (${fmtWhere(where)}) calls ${host} on the internet: the harness stands in only for the Anthropic API, so that call will fail`, 'not in the draft');
          } else if (internal) {
            this.addTodo(`${e.name}=${res.value} of ${t.family} (${fmtWhere(where)}): ${host} is not one of the repo's services, and the harness stands in only for SurrealDB and the Anthropic API`, 'not in the draft');
            out.push({ key: first, how: `TODO: ${host} (${e.name}, ${fmtWhere(where)}) is no service of this repo; the harness has no stand-in for it` });
          }
        }
    const anthropicSecret = secrets.find((s) => /anthropic/i.test(s.name));
    const anthropicEnv = this.scan.taskDefs.flatMap((t) => t.containers.flatMap((c) => [...c.secrets.map((s) => ({ t, n: s.name, v: s.valueFrom, line: s.line })), ...c.environment.map((s) => ({ t, n: s.name, v: s.value, line: s.line }))])).find((x) => /anthropic|claude/i.test(`${x.n} ${x.v}`));
    if (anthropicSecret || anthropicEnv) {
      const spec: Record<string, unknown> = { kind: 'anthropic' };
      let keySecret = anthropicSecret?.name;
      if (!keySecret && anthropicEnv) {
        const m = /:secret:([^:]+)/.exec(this.resolveText(anthropicEnv.v).value);
        if (m && secrets.some((s) => s.name === m[1])) keySecret = m[1];
        if (keySecret) spec.apiKeySecret = keySecret;
      }
      const where = anthropicEnv ? [{ file: anthropicEnv.t.file, line: anthropicEnv.line }] : [];
      this.addFound(`Anthropic API host (${keySecret ? `key in secret ${keySecret}` : `${anthropicEnv!.n} of ${anthropicEnv!.t.family}`})`, where);
      out.push({ key: 'anthropic', spec, how: `${w(where)[0] ?? ''} (${anthropicEnv?.n ?? keySecret})` });
    }
    return out;
  }
}

// ---------------------------------------------------------------- helpers

/** Parses an image reference: <registry>/<repository>:<tag> (registry and tag may be placeholders). */
export function parseImage(image: string): { registry?: string; repository: string; tag?: string; ecr: boolean } | undefined {
  let rest = image.trim();
  if (!rest) return undefined;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at > 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const parts = rest.split('/');
  let registry: string | undefined;
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === 'localhost' || PLACEHOLDER.test(parts[0]!) || /^[A-Z][A-Z0-9_]*$/.test(parts[0]!))) registry = parts.shift();
  let last = parts.pop()!;
  let tag: string | undefined;
  // a tag: after the last ':' of the last segment, unless inside a placeholder
  const m = /^(.*?):((?:\$\{[^}]*\}|\{\{[^}]*\}\}|<[\w-]+>|[\w.$-])+)$/.exec(last);
  if (m && !/\{[^}]*$/.test(m[1]!)) {
    last = m[1]!;
    tag = m[2];
  }
  const repository = [...parts, last].join('/');
  if (!repository) return undefined;
  // a private ECR registry (<account>.dkr.ecr.<region>.amazonaws.com), or a placeholder for one; not public.ecr.aws
  const ecr = registry ? /dkr\.ecr/i.test(registry) || (!registry.includes('.') && /ecr|registry|account/i.test(registry)) || PLACEHOLDER.test(registry) || /^[A-Z][A-Z0-9_]*$/.test(registry) : false;
  void digest;
  return { ...(registry ? { registry } : {}), repository, ...(tag ? { tag } : {}), ecr };
}

function cmpVersion(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.replace(/^v/, '').split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    if (x === undefined) return 1; // 1.0.0 after 1.0.0-rc1
    if (y === undefined) return -1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x).localeCompare(String(y));
  }
  return 0;
}

function ipInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
function intIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** The smallest CIDR (at most /16) covering these. */
function covering(cidrs: string[]): string | undefined {
  const nets = cidrs.map((c) => c.split('/')).map(([ip, bits]) => ({ ip: ipInt(ip!), bits: Number(bits) }));
  for (let bits = 16; bits >= 8; bits--) {
    const mask = bits === 0 ? 0 : (2 ** 32 - 2 ** (32 - bits)) >>> 0;
    const base = (nets[0]!.ip & mask) >>> 0;
    if (nets.every((n) => n.bits >= bits && ((n.ip & mask) >>> 0) === base)) return `${intIp(base)}/${bits}`;
  }
  return undefined;
}

/** The i-th /24 inside a VPC CIDR (skipping the first), or the CIDR itself when it is too small. */
function subnetCidr(vpcCidr: string, i: number): string {
  const m = CIDR_RE.exec(vpcCidr);
  if (!m) return '10.0.1.0/24';
  const bits = Number(m[5]);
  if (bits > 23) return vpcCidr;
  const mask = (2 ** 32 - 2 ** (32 - bits)) >>> 0;
  const base = (ipInt(vpcCidr.split('/')[0]!) & mask) >>> 0;
  return `${intIp(base + (i + 1) * 256)}/24`;
}

/** a YAML scalar: plain when safe everywhere (also in flow collections), else double-quoted */
function sc(v: string): string {
  if (/^[A-Za-z0-9_./@-][A-Za-z0-9_./@+-]*$/.test(v) && !/^[-.]/.test(v)) {
    try {
      if (YAML.parse(v) === v) return v;
    } catch {
      /* quote it */
    }
  }
  return JSON.stringify(v);
}

function cm(s: string | undefined): string {
  return s ? `  # ${s.replace(/\s*\n\s*/g, ' ')}` : '';
}

/** A path as the user would type it: relative below the current directory, else absolute. */
export function displayPath(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') || path.isAbsolute(r) ? path.resolve(p) : r;
}

/** The three lists, the validation verdict and the next step, as the verb prints them. */
export function formatDraftReport(d: Draft, opts: { manifestFile: string; deployDir: string; written: boolean }): string {
  const out: string[] = [];
  const rel = displayPath;
  out.push(`harness init: ${opts.written ? 'wrote' : 'drafted'} ${rel(opts.manifestFile)} from ${rel(opts.deployDir)}`);
  if (d.empty) out.push('found nothing recognisable: no task definitions, config files or aws calls; the draft is mostly TODOs');
  const list = (title: string, items: ReportItem[]): void => {
    out.push('', `${title} (${items.length}):`);
    if (!items.length) out.push('  (none)');
    for (const it of items) out.push(`  - ${it.text}${it.where.length ? `  [${it.where.slice(0, 3).join(', ')}${it.where.length > 3 ? ', …' : ''}]` : ''}`);
  };
  list('found', d.found);
  list('guessed (review these)', d.guessed);
  out.push('', `left to fill in (${d.todo.length} TODO):`);
  if (!d.todo.length) out.push('  (none)');
  for (const t of d.todo) out.push(`  - [${t.effect}] ${t.text}`);
  out.push('', `task definition families (${d.families.length}): ${d.families.map((f) => `${f.family} (${f.file})`).join(', ') || 'none'}`);
  out.push(d.invalid ? `the draft does not validate yet: ${d.invalid}` : 'the draft validates; the TODOs marked "valid placeholder" still need your eye');
  out.push(`review ${rel(opts.manifestFile)}, then run: npx harness scenario deploy-all --deploy-dir ${rel(opts.deployDir)}`);
  return out.join('\n');
}
