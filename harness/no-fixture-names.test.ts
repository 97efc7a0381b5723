import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseManifest } from './manifest/load.ts';

/**
 * The user's repo is the subject: nothing under harness/, scenarios/ or stubs/ (their unit
 * tests aside, which may use any sample names) may name a service, family, repository, group,
 * pool, client, secret, role, load balancer, namespace, table, HTTP API or function of our fixture repos. What the harness
 * needs before the scripts run comes from harness.yaml; the rest from the control plane.
 */
const ROOT = path.resolve(fileURLToPath(new URL('../', import.meta.url)));
const FIXTURES = path.join(ROOT, 'fixtures');

/** A name is distinctive enough to look for when it has a separator (a plain word such as "gateway" is everyone's). */
const distinctive = (n: string) => /[-./]/.test(n) && n.length >= 6;

function fixtureNames(dir: string): Set<string> {
  const names = new Set<string>();
  const add = (n: unknown) => {
    if (typeof n === 'string' && distinctive(n)) names.add(n);
  };
  const m = parseManifest(fs.readFileSync(path.join(dir, 'harness.yaml'), 'utf8'), 'harness.yaml');
  for (const lb of m.loadBalancers) [lb.name, ...lb.securityGroups].forEach(add);
  for (const p of m.cognito) [p.userPool, p.domain, ...p.clients.map((c) => c.name), ...p.users.map((u) => u.username)].forEach(add);
  m.iam.roles.forEach(add);
  Object.keys(m.secrets).forEach(add);
  Object.keys(m.images.repositories).forEach(add);
  for (const h of Object.values(m.hosts)) if (h.kind === 'surrealdb') [h.dns, h.dns.split('.').slice(1).join('.'), ...h.securityGroups, h.rootSecret].forEach(add);
  for (const p of m.policy) [p.from, p.to].forEach(add);
  Object.keys(m.dynamodb?.tables ?? {}).forEach(add);
  Object.keys(m.httpApis ?? {}).forEach(add);
  // the serverless half: function directories the scripts zip (functions/<name>, lambda/<name>)
  for (const sub of ['functions', 'lambda']) {
    const d = path.join(dir, sub);
    if (fs.existsSync(d)) for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) add(e.name);
  }
  // what the scripts create, as the repo's files spell it: families, container names, Cloud Map names
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (/\.env$/.test(e.name)) for (const [, c] of fs.readFileSync(f, 'utf8').matchAll(/^(?:CLUSTER|NAMESPACE)=["']?([\w.-]+)/gm)) add(c);
      else if (/\.(json|ya?ml)$/.test(e.name)) {
        const text = fs.readFileSync(f, 'utf8');
        for (const [, v] of text.matchAll(/"?(?:family|name)"?\s*:\s*"?([A-Za-z0-9][\w.-]+)"?/g)) if (/containerDefinitions/.test(text)) add(v);
        for (const [, c] of text.matchAll(/"?cluster"?\s*:\s*"([\w-]+)"/gi)) add(c);
        for (const [, host] of text.matchAll(/https?:\/\/([a-z0-9.-]+\.internal)\b/g)) [host, host!.split('.')[0], host!.split('.').slice(1).join('.')].forEach(add);
      }
    }
  };
  walk(dir);
  return names;
}

function sources(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (/\.(ts|mjs|js)$/.test(e.name)) out.push(f);
    }
  };
  for (const d of ['harness', 'scenarios', 'stubs']) walk(path.join(ROOT, d));
  // unit and contract tests beside the code may use sample names; scenario suites may not
  return out.filter((f) => !/\/(harness|stubs)\/.*\.test\.ts$/.test(f) && !/\/testing\.ts$/.test(f));
}

describe('no fixture names in the harness', () => {
  const repos = fs.readdirSync(FIXTURES, { withFileTypes: true }).filter((e) => e.isDirectory() && fs.existsSync(path.join(FIXTURES, e.name, 'harness.yaml')));

  it('there are at least two fixture repos, each with its manifest', () => {
    expect(repos.length).toBeGreaterThanOrEqual(2);
  });

  it('nothing under harness/, scenarios/ or stubs/ names a fixture\'s service, repository, group, pool, secret, role or namespace', () => {
    const names = new Map<string, string>();
    for (const r of repos) for (const n of fixtureNames(path.join(FIXTURES, r.name))) names.set(n, r.name);
    expect(names.size).toBeGreaterThan(20);
    const found: string[] = [];
    for (const f of sources()) {
      const lines = fs.readFileSync(f, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const [n, repo] of names) {
          const at = line.indexOf(n);
          if (at < 0) continue;
          const before = line[at - 1] ?? ' ';
          const after = line[at + n.length] ?? ' ';
          if (/[\w-]/.test(before) || /[\w-]/.test(after)) continue; // part of a longer name
          found.push(`${path.relative(ROOT, f)}:${i + 1}: "${n}" (fixtures/${repo})`);
        }
      });
    }
    expect(found, found.slice(0, 40).join('\n')).toEqual([]);
  });
});
