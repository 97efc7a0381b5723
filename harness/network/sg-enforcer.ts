/**
 * Security groups enforced on ENIs that are network namespaces (shared by the netns fabric,
 * where each task is a namespace of its own, and the docker fabric, where each container's
 * namespace is made reachable by name with `ip netns attach`).
 *
 * Holds the ENIs (address, namespace, groups) and the harness hosts (addresses in the root
 * namespace), renders their rulesets with sg-rules.ts and applies them with `nft -f -`:
 * every ENI's table inside its namespace (`nsenter --net=/run/netns/<ns>`), the hosts' table
 * in the root namespace. Re-application is coalesced in generations: any number of changes
 * (rule changes through the EC2 API, attach/detach, host changes) while one application runs
 * become one more application; `settled()` resolves once everything changed so far is on the
 * wire. Only rulesets whose text changed are applied again.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { renderEniRuleset, renderHostRuleset, type HostEni, type SgGroup, type SgView } from './sg-rules.ts';

// ------------------------------------------------------------------ commands

function findBin(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dir) continue;
    const f = path.join(dir, name);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      /* next */
    }
  }
  return name;
}

export const IP_BIN = findBin('ip');
export const NFT_BIN = findBin('nft');
export const NSENTER_BIN = findBin('nsenter');

export class CommandError extends Error {}

/** Runs a command (no shell); rejects with its stderr. */
export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', (e) => reject(new CommandError(`${path.basename(cmd)} ${args.join(' ')}: ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new CommandError(`${path.basename(cmd)} ${args.join(' ')}: exit ${code}: ${err.trim().split('\n').slice(0, 4).join(' | ')}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** `nft -f -` inside a named namespace (/run/netns/<netns>), or in the root namespace. */
export function nftApply(netns: string | undefined, ruleset: string): Promise<string> {
  if (!netns) return run(NFT_BIN, ['-f', '-'], ruleset);
  return run(NSENTER_BIN, [`--net=/run/netns/${netns}`, NFT_BIN, '-f', '-'], ruleset);
}

// ------------------------------------------------------------------ the enforcer

/** What the fabric reads security groups from (the EC2 store is one). */
export interface SgSource {
  listSecurityGroups(): SgGroup[];
  onRulesChanged(listener: () => void): () => void;
}

/** An ENI whose rules live in a named network namespace. */
export interface EnforcedEni {
  taskId: string;
  ip: string;
  /** the namespace's name under /run/netns */
  netns: string;
  /** group ids, or names resolved once a group of that name exists */
  groupIds: string[];
  /** the ruleset last applied in its namespace */
  lastRuleset?: string;
}

export interface SgEnforcerOptions {
  /** the nft table's name (inet family), in every namespace and in the root namespace */
  table: string;
  /** the VPC resolver: DNS to it on 53 is never filtered */
  resolverIp: string;
  sgs: SgSource;
  events?: { append(type: string, fields: Record<string, unknown>): void };
}

export class SgEnforcer<E extends EnforcedEni = EnforcedEni, H extends HostEni = HostEni> {
  readonly enis = new Map<string, E>();
  readonly hosts = new Map<string, H>();
  /** ms each whole re-application took (for the benchmark) */
  readonly applyTimes: number[] = [];
  private rootTableApplied?: string;
  private unsubscribe?: () => void;
  private closed = false;
  private wanted = 0;
  private applied = 0;
  private applying?: Promise<void>;
  private waiters: { gen: number; resolve: () => void }[] = [];

  constructor(private readonly o: SgEnforcerOptions) {}

  /** Follows rule changes of the EC2 API from now on. */
  start(): void {
    this.unsubscribe ??= this.o.sgs.onRulesChanged(() => void this.reapply('rules'));
  }

  groupMap(): Map<string, SgGroup> {
    const groups = new Map<string, SgGroup>();
    for (const g of this.o.sgs.listSecurityGroups()) groups.set(g.groupId, g);
    return groups;
  }

  /** ids stay ids; a name becomes the id of the group of that name (once it exists) */
  resolveGroups(entries: string[], groups: Map<string, SgGroup> = this.groupMap()): string[] {
    return entries.map((e) => (groups.has(e) ? e : ([...groups.values()].find((g) => g.groupName === e)?.groupId ?? e)));
  }

  /** The current security groups and their members (what the rules are rendered from). */
  view(): SgView {
    const groups = this.groupMap();
    const members = new Map<string, Set<string>>();
    const add = (ids: string[], ip: string) => {
      for (const id of ids) {
        if (!members.has(id)) members.set(id, new Set());
        members.get(id)!.add(ip);
      }
    };
    for (const e of this.enis.values()) add(this.resolveGroups(e.groupIds, groups), e.ip);
    for (const h of this.hosts.values()) add(this.resolveGroups(h.groupIds, groups), h.ip);
    return { groups, members, resolverIp: this.o.resolverIp };
  }

  /** Groups of an address in the VPC (task ENI or harness host); undefined = not an ENI. */
  groupsOfIp(ip: string): string[] | undefined {
    const groups = this.groupMap();
    for (const e of this.enis.values()) if (e.ip === ip) return this.resolveGroups(e.groupIds, groups);
    for (const h of this.hosts.values()) if (h.ip === ip) return this.resolveGroups(h.groupIds, groups);
    return undefined;
  }

  /** The ruleset an ENI gets right now. */
  renderEni(e: E, view: SgView = this.view()): string {
    return renderEniRuleset(this.o.table, this.resolveGroups(e.groupIds, view.groups), view);
  }

  /** Renders and applies one ENI's ruleset now (before anything runs in its namespace). */
  async applyNow(e: E): Promise<void> {
    if (!e.netns) throw new Error(`ENI ${e.taskId} has no namespace`);
    const text = this.renderEni(e);
    await nftApply(e.netns, text);
    e.lastRuleset = text;
  }

  /** Resolves once every change so far is enforced in every namespace. */
  settled(): Promise<void> {
    if (this.applied >= this.wanted) return Promise.resolve();
    const gen = this.wanted;
    return new Promise((resolve) => this.waiters.push({ gen, resolve }));
  }

  /** Re-renders every ruleset and applies those that changed (coalesced; resolves when enforced). */
  reapply(why: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.wanted++;
    const done = this.settled();
    this.kick(why);
    return done;
  }

  private kick(why: string): void {
    if (this.applying) return;
    this.applying = this.applyLoop(why).finally(() => {
      this.applying = undefined;
      // a change that arrived after the loop's last check but before this ran
      if (this.applied < this.wanted && !this.closed) this.kick(why);
    });
  }

  private async applyLoop(why: string): Promise<void> {
    while (this.applied < this.wanted && !this.closed) {
      const gen = this.wanted;
      const t0 = performance.now();
      const changed = await this.applyAll();
      const ms = performance.now() - t0;
      this.applyTimes.push(ms);
      this.applied = gen;
      if (changed.length) this.o.events?.append('network.sg.enforced', { why, namespaces: changed, ms: Math.round(ms * 10) / 10 });
      const ready = this.waiters.filter((w) => w.gen <= gen);
      this.waiters = this.waiters.filter((w) => w.gen > gen);
      for (const w of ready) w.resolve();
    }
    if (this.closed) {
      for (const w of this.waiters) w.resolve();
      this.waiters = [];
    }
  }

  private async applyAll(): Promise<string[]> {
    const view = this.view();
    const changed: string[] = [];
    const jobs: Promise<void>[] = [];
    for (const e of this.enis.values()) {
      // never the root namespace: an ENI's table drops everything it does not admit
      if (!e.netns) continue;
      const text = this.renderEni(e, view);
      if (text === e.lastRuleset) continue;
      jobs.push(
        nftApply(e.netns, text).then(
          () => {
            e.lastRuleset = text;
            changed.push(e.netns);
          },
          (err) => {
            if (this.enis.get(e.taskId) === e) this.o.events?.append('harness.error', { where: 'network.sg', netns: e.netns, error: String(err.message ?? err) });
          },
        ),
      );
    }
    const hostText = renderHostRuleset(
      this.o.table,
      [...this.hosts.values()].map((h) => ({ ...h, groupIds: this.resolveGroups(h.groupIds, view.groups) })),
      view,
    );
    if (hostText !== this.rootTableApplied) {
      const job = hostText ? nftApply(undefined, hostText) : run(NFT_BIN, ['delete', 'table', 'inet', this.o.table]).catch(() => '');
      jobs.push(
        job.then(
          () => {
            this.rootTableApplied = hostText;
            changed.push('(root: harness hosts)');
          },
          (err) => this.o.events?.append('harness.error', { where: 'network.sg.hosts', error: String(err.message ?? err) }),
        ),
      );
    }
    await Promise.all(jobs);
    return changed;
  }

  /** Stops following rule changes, waits for a running application, removes the root table. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    await this.applying?.catch(() => {});
    if (this.rootTableApplied) await run(NFT_BIN, ['delete', 'table', 'inet', this.o.table]).catch(() => {});
    this.rootTableApplied = undefined;
  }
}
