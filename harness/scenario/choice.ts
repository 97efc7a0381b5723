/**
 * The runtime and network a run uses, said in a few words with why: the first line of
 * `harness scenario` and each scenario summary's headline. The full reasons (what was found
 * on this host) stay on the lines below.
 */

/** "process (default)", "process (asked for)", "docker (auto)", "process (auto: docker mode unavailable)". */
export function runtimeShort(runtime: string, reason: string): string {
  const m = /^(\w+) \(([^:)]+)/.exec(reason);
  if (!m) return runtime;
  const why = m[2]!.trim();
  return `${m[1]} (${why === 'auto' && /docker mode unavailable/.test(reason) ? 'auto: docker mode unavailable' : why})`;
}

/**
 * "netns (auto: security groups enforced)", "loopback (not root: security groups NOT
 * enforced)", "loopback (asked for: …)", "docker network (security groups enforced)".
 */
export function networkShort(mode: string | undefined, reason: string): string {
  const kind = mode ?? /^(\w+)/.exec(reason)?.[1] ?? 'unknown';
  if (kind === 'docker') return `docker network (security groups ${/NOT enforced/.test(reason) ? 'NOT enforced' : 'enforced'})`;
  if (kind === 'netns') return `netns (${/asked for/.test(reason) ? 'asked for' : 'auto'}: security groups enforced)`;
  if (/^loopback \(asked for\)/.test(reason)) return 'loopback (asked for: security groups NOT enforced)';
  // "loopback: not root (network namespaces …); security groups are NOT enforced"
  const why = reason.replace(/^loopback:\s*/, '').split(/[;(]/)[0]!.trim();
  return `${kind} (${why ? `${why}: ` : ''}security groups NOT enforced)`;
}

/** `runtime process (default) · network netns (auto: security groups enforced)` */
export function choiceHeadline(runtime: string, runtimeReason: string, networkMode: string | undefined, networkReason: string | undefined): string {
  const rt = `runtime ${runtimeShort(runtime, runtimeReason)}`;
  return networkReason ? `${rt} · network ${networkShort(networkMode, networkReason)}` : rt;
}
