/**
 * `harness lint`: static checks of a deployment repo against its manifest, before anything
 * runs. Reads the repo with init's scanner (init-scan.ts) and never runs a script. Each
 * finding has a check, a subject, PASS/WARN/FAIL and a detail with file:line; what the repo
 * does not state as data is reported as "not checkable statically" rather than guessed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { scanRepo, parseData, get, str, plain, type LNode, type RepoScan, type TaskDefinitionFound } from './init-scan.ts';
import { parseImage } from './init.ts';
import type { Manifest } from './schema.ts';
import { sgAllows, type SgGroup, type SgRule, type SgView } from '../network/sg-rules.ts';

export type LintResult = 'PASS' | 'WARN' | 'FAIL';
export interface Finding {
  check: string;
  subject: string;
  result: LintResult;
  detail: string;
}

const at = (file: string, line: number) => `${file}:${line}`;
const unresolved = (s: string) => /\$\{|\$[A-Z_]|\{\{|^@.*@$|^__.*__$|^[A-Z][A-Z0-9_]*$/.test(s);
const unquote = (s: string) => s.trim().replace(/^(["'])(.*)\1$/, '$2');

/** AWS Fargate task-size table (Linux): cpu units → allowed memory (MiB). */
export function fargateMemories(cpu: number): number[] {
  const gb = (from: number, to: number, step: number) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => (from + i * step) * 1024);
  switch (cpu) {
    case 256: return [512, 1024, 2048];
    case 512: return gb(1, 4, 1);
    case 1024: return gb(2, 8, 1);
    case 2048: return gb(4, 16, 1);
    case 4096: return gb(8, 30, 1);
    case 8192: return gb(16, 60, 4);
    case 16384: return gb(32, 120, 8);
    default: return [];
  }
}

/** A task-level cpu/memory value: an integer, or "1 vCPU" / "2 GB" (converted at registration: ×1024). */
function units(v: string, unit: 'vcpu' | 'gb'): number {
  const m = new RegExp(`^\\s*([\\d.]+)\\s*${unit}\\s*$`, 'i').exec(v);
  return m ? Number(m[1]) * 1024 : Number(v);
}

/** Tools a CMD-SHELL health check may call that the harness's stub images have. */
const KNOWN_TOOLS = new Set(['curl', 'wget', 'exit', 'true', 'test', '[', 'sh', 'echo', 'cat', 'grep', 'nc']);

/** The task definition's own node (re-read with the scanner's parser). */
function tdNode(root: string, td: TaskDefinitionFound): LNode | undefined {
  let text: string;
  try { text = fs.readFileSync(path.join(root, td.file), 'utf8'); } catch { return undefined; }
  const parsed = parseData(text);
  let found: LNode | undefined;
  const walk = (n: LNode | undefined): void => {
    if (!n || found) return;
    if (n.map) {
      if (get(n, 'containerDefinitions') && (str(get(n, 'family')) === td.family || td.familyGuessed)) { found = n; return; }
      for (const v of n.map.values()) walk(v);
    }
    n.list?.forEach(walk);
  };
  walk(parsed.root);
  return found;
}

function secretName(valueFrom: string): string {
  const m = /^arn:aws[\w-]*:secretsmanager:[^:]*:[^:]*:secret:([^:]+)/.exec(valueFrom);
  return m ? m[1]! : valueFrom.split(':')[0]!;
}

function secretKnown(name: string, manifest: Manifest): boolean {
  const names = new Set(Object.keys(manifest.secrets));
  for (const h of Object.values(manifest.hosts)) if (h.kind === 'surrealdb' && h.rootSecret) names.add(h.rootSecret);
  if (names.has(name)) return true;
  // an ARN's name carries a random six-character suffix
  return [...names].some((n) => name.startsWith(n + '-') && name.length === n.length + 7);
}

/** Tag specs of a repository, merged with the defaults. */
function platformsOf(repo: string, tag: string | undefined, manifest: Manifest): { tag: string; platforms: string[] }[] {
  const tags = { ...manifest.images.tags, ...(manifest.images.repositories[repo] ?? {}) };
  const out: { tag: string; platforms: string[] }[] = [];
  for (const [t, spec] of Object.entries(tags)) {
    if (tag && !unresolved(tag) && t !== tag) continue;
    // the team's own image: its platform is the pushed image's, known only once it is pushed
    if (typeof spec === 'object' && 'image' in spec) continue;
    const behaviour = typeof spec === 'string' ? spec : spec.behaviour;
    const platforms = behaviour === 'amd64-only' ? ['linux/amd64'] : (typeof spec === 'object' && spec.platforms) || manifest.images.platforms;
    out.push({ tag: t, platforms });
  }
  return out;
}

/** Security groups the repo states as data: shell arrays of "dir group proto port peer" or JSON groups. */
interface SgData {
  groups: Map<string, SgGroup>;
  rules: { group: string; rule: SgRule; where: string; peerName?: string }[];
  services: Map<string, string[]>;
  source: string;
}

function sgData(scan: RepoScan): SgData | undefined {
  const groups = new Map<string, SgGroup>();
  const rules: SgData['rules'] = [];
  const services = new Map<string, string[]>();
  const group = (name: string) => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { groupId: `sg-${(groups.size + 1).toString(16).padStart(8, '0')}`, groupName: name, ingress: [], egress: [] }));
    return g;
  };
  const add = (dir: string, name: string, proto: string, port: string, peer: string, where: string) => {
    if (dir !== 'ingress' && dir !== 'egress') return;
    const [lo, hi] = port.split('-').map(Number);
    const rule: SgRule = { direction: dir, ipProtocol: proto === 'all' ? '-1' : proto, fromPort: lo, toPort: hi ?? lo };
    if (/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(peer)) rule.cidrIpv4 = peer;
    else rule.referencedGroupId = group(peer).groupId;
    (dir === 'ingress' ? group(name).ingress : group(name).egress).push(rule);
    rules.push({ group: name, rule, where, peerName: rule.cidrIpv4 ? undefined : peer });
  };
  let source = '';
  for (const a of scan.assigns) {
    if (!a.entries) continue;
    if (/SG_RULES|SECURITY_GROUP_RULES/.test(a.name)) {
      a.entries.forEach((e, i) => { const w = unquote(e).split(/\s+/); if (w.length >= 5) add(w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, at(a.file, a.line + i + 1)); });
      source ||= at(a.file, a.line);
    } else if (/SERVICE_SECURITY_GROUPS/.test(a.name)) {
      for (const e of a.entries) { const [svc, ...gs] = unquote(e).split(/\s+/); if (svc) services.set(svc, gs); }
    }
  }
  for (const d of scan.data) {
    const gl = get(d.root, 'groups');
    if (gl?.list?.every((g) => str(get(g, 'name')) && (get(g, 'ingress') || get(g, 'egress')))) {
      source ||= d.file;
      for (const g of gl.list) {
        const name = str(get(g, 'name'))!;
        group(name);
        for (const dir of ['ingress', 'egress'] as const)
          for (const r of get(g, dir)?.list ?? []) {
            const port = str(get(r, 'port')) ?? (str(get(r, 'fromPort')) ? `${str(get(r, 'fromPort'))}-${str(get(r, 'toPort'))}` : '0-65535');
            const peer = str(get(r, 'cidr')) ?? str(get(r, 'group'));
            if (peer) add(dir, name, str(get(r, 'protocol')) ?? 'tcp', port, peer, at(d.file, r.line));
          }
      }
    }
    // service → groups: a map whose entries carry securityGroups
    const walk = (n: LNode | undefined): void => {
      if (!n?.map) return;
      for (const [k, v] of n.map) {
        const sgs = plain(get(v, 'securityGroups'));
        if (Array.isArray(sgs) && v.map) {
          for (const nm of [k, str(get(v, 'ecsService')), str(get(v, 'service')), str(get(v, 'name'))]) if (nm) services.set(nm, sgs.map(String));
        } else walk(v);
      }
    };
    walk(d.root);
  }
  return rules.length ? { groups, rules, services, source } : undefined;
}

export function lintRepo(deployDir: string, manifest: Manifest, scan: RepoScan = scanRepo(deployDir)): Finding[] {
  const out: Finding[] = [];
  const f = (check: string, subject: string, result: LintResult, detail: string) => out.push({ check, subject, result, detail });
  const repos = manifest.images.repositories;
  const containerPorts = new Map<string, { ports: number[]; where: string }>();

  for (const td of scan.taskDefs) {
    const node = tdNode(deployDir, td);
    const where = at(td.file, td.line);
    // cpu / memory
    const cpu = str(get(node, 'cpu'));
    const mem = str(get(node, 'memory'));
    if (cpu && mem && !unresolved(cpu) && !unresolved(mem)) {
      const ok = fargateMemories(units(cpu, 'vcpu')).includes(units(mem, 'gb'));
      f('fargate-size', td.family, ok ? 'PASS' : 'FAIL', `cpu ${cpu} / memory ${mem}${ok ? '' : ' is not a Fargate task size'} (${at(td.file, get(node, 'cpu')!.line)})`);
    } else f('fargate-size', td.family, 'WARN', `cpu/memory not stated as numbers; not checkable statically (${where})`);

    const defs = get(node, 'containerDefinitions')?.list ?? [];
    td.containers.forEach((c, i) => {
      const cname = c.name ?? td.family;
      const subject = `${td.family}/${cname}`;
      const cn = defs[i];
      // secrets
      for (const s of c.secrets) {
        const w = at(td.file, s.line);
        if (unresolved(s.valueFrom)) { f('secret', `${subject} ${s.name}`, 'WARN', `valueFrom ${s.valueFrom} is a placeholder; not checkable statically (${w})`); continue; }
        const n = secretName(s.valueFrom);
        const ok = secretKnown(n, manifest);
        f('secret', `${subject} ${s.name}`, ok ? 'PASS' : 'FAIL', ok ? `${n} is in the manifest (${w})` : `secret ${n} is not in the manifest's secrets (${w})`);
      }
      // image repository and platform
      if (c.image) {
        const w = at(td.file, c.image.line);
        const img = parseImage(c.image.value);
        if (!img || unresolved(img.repository)) f('image', subject, 'WARN', `image ${c.image.value}: repository not knowable statically (${w})`);
        else if (!(img.repository in repos)) f('image', subject, 'FAIL', `repository ${img.repository} is not in the manifest's images.repositories (${w})`);
        else {
          f('image', subject, 'PASS', `repository ${img.repository} is in the manifest (${w})`);
          if (td.arch && /arm64/i.test(td.arch.value)) {
            const bad = platformsOf(img.repository, img.tag, manifest).filter((t) => !t.platforms.includes('linux/arm64'));
            if (bad.length) f('arm64-image', subject, 'FAIL', `ARM64 task (${at(td.file, td.arch.line)}) but ${img.repository}:${bad.map((b) => b.tag).join(',')} has no linux/arm64 (${bad[0]!.platforms.join(',')}) (${w})`);
            else f('arm64-image', subject, 'PASS', `${img.repository} has linux/arm64 (${w})`);
          }
        }
      }
      // log region
      if (c.logRegion) {
        const w = at(td.file, c.logRegion.line);
        if (unresolved(c.logRegion.value)) f('log-region', subject, 'PASS', `awslogs-region ${c.logRegion.value} is set by the scripts (${w})`);
        else f('log-region', subject, c.logRegion.value === manifest.region ? 'PASS' : 'FAIL', `awslogs-region ${c.logRegion.value}${c.logRegion.value === manifest.region ? '' : ` ≠ the manifest's region ${manifest.region}`} (${w})`);
      }
      // health check tool
      const hc = plain(get(get(cn, 'healthCheck'), 'command'));
      if (Array.isArray(hc) && hc[0] === 'CMD-SHELL') {
        const tool = String(hc[1] ?? '').trim().split(/\s+/)[0] ?? '';
        const w = at(td.file, get(cn, 'healthCheck')!.line);
        f('health-tool', subject, KNOWN_TOOLS.has(tool) ? 'PASS' : 'WARN', KNOWN_TOOLS.has(tool) ? `${tool} is in the stub images (${w})` : `health check runs ${tool}, which the image may not have (${w})`);
      }
      const ports = (get(cn, 'portMappings')?.list ?? []).map((p) => Number(str(get(p, 'containerPort')))).filter((n) => n > 0);
      containerPorts.set(cname, { ports, where: at(td.file, cn?.line ?? td.line) });
      containerPorts.set(td.family, { ports, where: at(td.file, cn?.line ?? td.line) });
    });
  }

  // target group port vs container port: config entries (containerName + containerPort) and scripts' containerPort=N
  let tgChecked = false;
  const portCheck = (name: string, port: number, w: string) => {
    const c = containerPorts.get(name);
    if (!c || !c.ports.length) return;
    tgChecked = true;
    const ok = c.ports.includes(port);
    f('tg-port', name, ok ? 'PASS' : 'FAIL', ok ? `port ${port} (${w}) is the container's port (${c.where})` : `target group port ${port} (${w}) ≠ the container port ${c.ports.join(',')} (${c.where})`);
  };
  for (const d of scan.data) {
    const walk = (n: LNode | undefined): void => {
      if (!n) return;
      const cp = str(get(n, 'containerPort')), cname = str(get(n, 'containerName'));
      if (cp && cname && !get(n, 'hostPort') && /^\d+$/.test(cp)) portCheck(cname, Number(cp), at(d.file, get(n, 'containerPort')!.line));
      n.map?.forEach(walk);
      n.list?.forEach(walk);
    };
    walk(d.root);
  }
  for (const call of scan.awsCalls) {
    const m = /containerName=([\w-]+),containerPort=(\d+)/.exec(call.text);
    if (m && /-service$/.test(call.operation)) portCheck(m[1]!, Number(m[2]), at(call.file, call.line));
  }
  if (!tgChecked) f('tg-port', '*', 'WARN', 'the target group port is computed by the scripts; not checkable statically');

  // *_URL dependencies against the security groups stated as data
  const sg = sgData(scan);
  const used = new Set<SgRule>();
  const hostGroups = new Map<string, string[]>();
  for (const h of Object.values(manifest.hosts)) if (h.kind === 'surrealdb') hostGroups.set(h.dns.split('.')[0]!, h.securityGroups);
  for (const td of scan.taskDefs)
    for (const c of td.containers)
      for (const e of c.environment.filter((x) => /_URL$/.test(x.name))) {
        const subject = `${td.family} ${e.name}`;
        const w = at(td.file, e.line);
        const m = /^[a-z]+:\/\/([^/:]+)(?::(\d+))?/i.exec(e.value);
        if (!m) { f('sg-path', subject, 'WARN', `${e.value}: not a URL; not checkable statically (${w})`); continue; }
        if (!sg) { f('sg-path', subject, 'WARN', `the security groups are not stated as data; not checkable statically (${w})`); continue; }
        const port = Number(m[2] ?? (/^https/i.test(e.value) ? 443 : 80));
        const label = m[1]!.split('.')[0]!;
        const srcGroups = sg.services.get(td.family) ?? sg.services.get(c.name ?? '') ?? [...sg.services].find(([k]) => td.family.endsWith(k))?.[1];
        const dstGroups = sg.services.get(label) ?? hostGroups.get(label) ?? [...sg.services].find(([k]) => k.endsWith(label) || label.endsWith(k))?.[1];
        if (!srcGroups || !dstGroups) { f('sg-path', subject, 'WARN', `${m[1]}:${port}: which groups ${srcGroups ? 'the target' : td.family} has is not stated; not checkable statically (${w})`); continue; }
        const ids = (names: string[]) => names.map((n) => sg.groups.get(n)?.groupId).filter((x): x is string => !!x);
        const src = { ip: '100.64.0.1', groupIds: ids(srcGroups) }, dst = { ip: '100.64.0.2', groupIds: ids(dstGroups) };
        const members = new Map<string, Set<string>>();
        for (const id of src.groupIds) members.set(id, new Set(['100.64.0.1']));
        for (const id of dst.groupIds) members.set(id, new Set([...(members.get(id) ?? []), '100.64.0.2']));
        const view: SgView = { groups: new Map([...sg.groups.values()].map((g) => [g.groupId, g])), members, resolverIp: '' };
        const v = sgAllows(src, dst, 'tcp', port, view);
        const names = (s: string) => s.replace(/sg-[0-9a-f]{8}/g, (id) => [...sg.groups.values()].find((g) => g.groupId === id)?.groupName ?? id).replace('100.64.0.1', `a member of ${srcGroups.join(',')}`).replace('100.64.0.2', `a member of ${dstGroups.join(',')}`);
        if (v.allowed) {
          for (const g of [...src.groupIds.map((id) => ['egress', id] as const), ...dst.groupIds.map((id) => ['ingress', id] as const)]) {
            const grp = view.groups.get(g[1])!;
            for (const r of g[0] === 'egress' ? grp.egress : grp.ingress) {
              const peerIds = g[0] === 'egress' ? dst.groupIds : src.groupIds;
              if (r.referencedGroupId && peerIds.includes(r.referencedGroupId) && (r.ipProtocol === '-1' || (r.fromPort! <= port && port <= r.toPort!))) used.add(r);
            }
          }
        }
        // denied: a FAIL unless the manifest's policy (the intended reachability) leaves the path out as well
        const intended = !manifest.policy.length || manifest.policy.some((p) => srcGroups.includes(p.from) && dstGroups.includes(p.to) && portIn(p.ports, port));
        const denied = intended ? 'FAIL' : 'WARN';
        f('sg-path', subject, v.allowed ? 'PASS' : denied, v.allowed ? `${srcGroups.join(',')} → ${dstGroups.join(',')}:${port} admitted (${w}; rules ${sg.source})` : `${srcGroups.join(',')} → ${m[1]}:${port}: ${names(v.why)} (${w}; rules ${sg.source})${intended ? '' : '; the manifest\'s policy does not list this path either'}`);
      }
  // each group-to-group path is used by some dependency (ALB and CIDR rules are not dependencies)
  if (sg) {
    const albish = (n: string) => /alb|lb|elb/i.test(n);
    for (const r of sg.rules) {
      if (!r.peerName || used.has(r.rule) || albish(r.group) || albish(r.peerName)) continue;
      f('sg-unused', `${r.rule.direction} ${r.group} ${r.rule.fromPort}${r.rule.toPort !== r.rule.fromPort ? '-' + r.rule.toPort : ''} ${r.peerName}`, 'WARN', `no *_URL dependency needs this rule (${r.where})`);
    }
  }
  return out;
}

const portIn = (ports: string, port: number) => { const [lo, hi] = ports.split('-').map(Number) as [number, number?]; return port >= lo && port <= (hi ?? lo); };

export function formatFindings(findings: Finding[]): string {
  const rows = [['CHECK', 'SUBJECT', 'RESULT', 'DETAIL'], ...findings.map((x) => [x.check, x.subject, x.result, x.detail])];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c)).join('  '));
  const n = (r: LintResult) => findings.filter((x) => x.result === r).length;
  return [...lines, '', `${n('PASS')} pass, ${n('WARN')} warn, ${n('FAIL')} fail`].join('\n');
}

/** The findings as a scenario's first step: FAILs become warnings (the deploy is the judge), WARNs notes, and one summary note. */
export function lintStep(deployDir: string, manifest: Manifest): { warnings: string[]; notes: string[] } {
  try {
    const all = lintRepo(deployDir, manifest);
    const line = (x: Finding) => `lint ${x.result} ${x.check} ${x.subject}: ${x.detail}`;
    const n = (r: LintResult) => all.filter((x) => x.result === r).length;
    return {
      warnings: all.filter((x) => x.result === 'FAIL').map(line),
      notes: [`lint: ${n('PASS')} pass, ${n('WARN')} warn, ${n('FAIL')} fail (harness lint for the table)`, ...all.filter((x) => x.result === 'WARN').map(line)],
    };
  } catch (e) {
    return { warnings: [], notes: [`lint: not run (${(e as Error).message})`] };
  }
}
