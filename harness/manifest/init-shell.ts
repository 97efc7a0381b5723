/**
 * The little shell reading `harness init` needs: logical lines (backslash continuations
 * joined), assignments, `aws …` calls and their flags, and expansion of words such as
 * "${ALB_NAME:-web-alb}" or $(jq -r .alb.name env/prod.json) against what the repo's
 * config files and scripts set. It never runs anything: what it cannot follow stays unresolved.
 */

export interface LogicalLine {
  text: string;
  /** 1-based line of the first physical line */
  line: number;
}

/** Joins backslash continuations; drops whole-line comments. */
export function logicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let cur = lines[i]!;
    // a backslash continues the command; so does a trailing |, && or || (a pipeline goes on)
    for (;;) {
      if (/(^|[^\\])\\$/.test(cur) && i + 1 < lines.length) cur = cur.slice(0, -1) + ' ' + lines[++i]!.trim();
      else if (/(\||&&)\s*$/.test(cur) && !/^\s*#/.test(cur) && i + 1 < lines.length && !/^\s*#/.test(lines[i + 1]!)) cur = cur + ' ' + lines[++i]!.trim();
      else break;
    }
    if (/^\s*#/.test(cur)) continue;
    out.push({ text: cur, line: start + 1 });
  }
  return out;
}

/** Reads one shell word starting at i (quotes, $(…), ${…} kept raw); stops at blanks and operators. */
export function readWord(s: string, i: number): { word: string; end: number } {
  let j = i;
  while (j < s.length) {
    const c = s[j]!;
    if (/\s/.test(c) || c === ';' || c === '|' || c === '&' || c === ')' || c === '<' || c === '>') break;
    if (c === '\\') {
      j += 2;
    } else if (c === "'") {
      const k = s.indexOf("'", j + 1);
      j = k < 0 ? s.length : k + 1;
    } else if (c === '"') {
      j = skipDouble(s, j + 1);
    } else if (c === '$' && s[j + 1] === '(') {
      j = skipParens(s, j + 1);
    } else if (c === '$' && s[j + 1] === '{') {
      j = skipBraces(s, j + 1);
    } else if (c === '`') {
      const k = s.indexOf('`', j + 1);
      j = k < 0 ? s.length : k + 1;
    } else j++;
  }
  return { word: s.slice(i, j), end: j };
}

/** index after the closing double quote (i is just past the opening one) */
function skipDouble(s: string, i: number): number {
  let j = i;
  while (j < s.length) {
    const c = s[j]!;
    if (c === '\\') j += 2;
    else if (c === '"') return j + 1;
    else if (c === '$' && s[j + 1] === '(') j = skipParens(s, j + 1);
    else if (c === '$' && s[j + 1] === '{') j = skipBraces(s, j + 1);
    else j++;
  }
  return j;
}

/** s[i] is '('; index after the matching ')' */
export function skipParens(s: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < s.length) {
    const c = s[j]!;
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === "'") {
      const k = s.indexOf("'", j + 1);
      j = k < 0 ? s.length : k + 1;
      continue;
    }
    if (c === '"') {
      j = skipDouble(s, j + 1);
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return j;
}

/** s[i] is '{'; index after the matching '}' */
function skipBraces(s: string, i: number): number {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s[j]!;
    if (c === '\\') {
      j++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return s.length;
}

export interface Assignment {
  name: string;
  /** the raw right-hand side (a shell word), or the entries of an array */
  raw: string;
  entries?: string[];
  file: string;
  line: number;
  /** set in a config file (as opposed to a script) */
  config: boolean;
  /** only a default: ${NAME:-x} / ${NAME:=x} */
  fallback?: boolean;
}

const ASSIGN = /(^\s*|[;&|({]\s*|\b(?:local|export|readonly|declare|typeset)(?:\s+-[a-zA-Z]+)*\s+|\bthen\s+|\bdo\s+|\belse\s+)([A-Za-z_][A-Za-z0-9_]*)=/g;

/** Assignments (NAME=word, local/export/readonly NAME=word, NAME=( … )) and ${NAME:-default}s of a file. */
export function assignmentsOf(text: string, file: string, config: boolean): Assignment[] {
  const out: Assignment[] = [];
  const lines = logicalLines(text);
  for (let li = 0; li < lines.length; li++) {
    const { text: t, line } = lines[li]!;
    for (const m of t.matchAll(ASSIGN)) {
      const name = m[2]!;
      const start = m.index! + m[0].length;
      // inside a quoted string (e.g. "use NAME=x") this is not an assignment
      if (quoteDepthAt(t, m.index! + m[1]!.length)) continue;
      if (t[start] === '(') {
        // an array: NAME=( … ), possibly over several lines
        const entries: string[] = [];
        let rest = t.slice(start + 1);
        let k = li;
        for (;;) {
          const closed = closesArray(rest);
          for (const w of wordsOf(closed.body)) entries.push(w);
          if (closed.closed || k + 1 >= lines.length) break;
          rest = lines[++k]!.text;
        }
        out.push({ name, raw: entries.join(' '), entries, file, line, config });
        if (!/\)\s*$/.test(t) && k > li) li = k;
        continue;
      }
      const { word } = readWord(t, start);
      out.push({ name, raw: word, file, line, config });
    }
    for (const m of t.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):?[-=]/g)) {
      const open = m.index! + 1;
      const end = skipBraces(t, open);
      const inner = t.slice(open + 1, end - 1);
      const d = /^[A-Za-z_][A-Za-z0-9_]*:?[-=](.*)$/s.exec(inner);
      if (d && d[1] !== '') out.push({ name: m[1]!, raw: d[1]!, file, line, config, fallback: true });
    }
  }
  return out;
}

function closesArray(s: string): { body: string; closed: boolean } {
  // entries are words; an unquoted ')' closes the array
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return { body: s.slice(0, i), closed: false };
    if (c === ')') return { body: s.slice(0, i), closed: true };
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    i = readWord(s, i).end;
    if (i < s.length && !/\s/.test(s[i]!) && s[i] !== ')') i++;
  }
  return { body: s, closed: false };
}

/** The words of a command line (raw), up to a comment. */
export function wordsOf(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') break;
    const { word, end } = readWord(s, i);
    if (end === i) {
      out.push(c);
      i++;
      continue;
    }
    out.push(word);
    i = end;
  }
  return out;
}

/** true when position i of s is inside a "…" or '…' string (outside $(…)) */
function quoteDepthAt(s: string, i: number): boolean {
  let j = 0;
  while (j < i) {
    const c = s[j]!;
    if (c === '\\') j += 2;
    else if (c === "'") {
      const k = s.indexOf("'", j + 1);
      if (k < 0 || k >= i) return true;
      j = k + 1;
    } else if (c === '"') {
      const k = skipDouble(s, j + 1);
      if (k > i) {
        // inside a double-quoted string, unless inside a $( … ) within it
        const inner = s.slice(j + 1, i);
        const opens = (inner.match(/\$\(/g) ?? []).length;
        const closes = (inner.match(/\)/g) ?? []).length;
        return opens <= closes;
      }
      j = k;
    } else j++;
  }
  return false;
}

export interface AwsCall {
  service: string;
  operation: string;
  /** --flag → its raw words (several for --names a b) */
  flags: Map<string, string[]>;
  file: string;
  line: number;
  text: string;
}

/**
 * Functions that run aws with their arguments ("$@"), and how many leading arguments they take
 * first (shift N): awsr() { aws --region "$REGION" "$@"; }, awsr_try() { …; shift 2; awsr "$@"; }.
 */
export function awsWrappers(functions: ShellFunction[]): Map<string, number> {
  const out = new Map<string, number>([['aws', 0]]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const f of functions) {
      if (out.has(f.name)) continue;
      const names = [...out.keys()].map((n) => n.replace(/[-.]/g, '\\$&')).join('|');
      const m = new RegExp(`(^|[\\s;&|(!\`]|\\$\\()(${names})\\s[^\\n]*"\\$@"`).exec(f.body);
      if (!m) continue;
      let skip = 0;
      for (const sh of f.body.slice(0, m.index).matchAll(/\bshift(?:\s+(\d+))?/g)) skip += Number(sh[1] ?? 1);
      out.set(f.name, skip);
      changed = true;
    }
  }
  return out;
}

/** Every `aws <service> <operation> …` invocation in a script (also through wrapper functions). */
export function awsCallsOf(text: string, file: string, wrappers: Map<string, number> = new Map([['aws', 0]])): AwsCall[] {
  const out: AwsCall[] = [];
  const names = [...wrappers.keys()].map((n) => n.replace(/[-.]/g, '\\$&')).join('|');
  const at_ = new RegExp(`(^|[\\s;&|(!\`]|\\$\\()(${names})[ \\t]+`, 'g');
  for (const { text: t, line } of logicalLines(text)) {
    for (const m of t.matchAll(at_)) {
      const at = m.index! + m[1]!.length;
      if (quoteDepthAt(t, at) && !insideSubst(t, at)) continue;
      // a definition (awsr() { aws … "$@"; }) is not a call
      if (/"\$@"/.test(t) && /^\s*(function\s+)?[\w-]+\s*\(\)/.test(t)) continue;
      let i = at + m[0].length - m[1]!.length;
      const words: string[] = [];
      while (i < t.length) {
        while (i < t.length && /[ \t]/.test(t[i]!)) i++;
        if (i >= t.length || /[;|&)<>]/.test(t[i]!)) break;
        const { word, end } = readWord(t, i);
        if (end === i) break;
        words.push(word);
        i = end;
      }
      // a wrapper's own leading arguments, then global options: aws --region x ecs …
      let k = wrappers.get(m[2]!) ?? 0;
      while (k < words.length && words[k]!.startsWith('--')) k += words[k]!.includes('=') || !words[k + 1] || words[k + 1]!.startsWith('--') ? 1 : 2;
      const service = words[k];
      const operation = words[k + 1];
      if (!service || !operation || !/^[a-z0-9-]+$/.test(service) || !/^[a-z0-9-]+$/.test(operation)) continue;
      const flags = new Map<string, string[]>();
      let cur: string | undefined;
      for (const w of words.slice(k + 2)) {
        if (/^--[a-z0-9-]+(=|$)/.test(w)) {
          const eq = w.indexOf('=');
          cur = eq > 0 ? w.slice(0, eq) : w;
          if (!flags.has(cur)) flags.set(cur, []);
          if (eq > 0) flags.get(cur)!.push(w.slice(eq + 1));
        } else if (cur) flags.get(cur)!.push(w);
      }
      out.push({ service, operation, flags, file, line, text: t.trim() });
    }
  }
  return out;
}

function insideSubst(s: string, i: number): boolean {
  const before = s.slice(0, i);
  return before.lastIndexOf('$(') > before.lastIndexOf(')');
}

export interface ShellFunction {
  name: string;
  file: string;
  line: number;
  /** the line of the closing brace */
  end: number;
  body: string;
}

/** name() { … } / function name { … } definitions (the body up to the closing brace at the definition's indentation). */
export function functionsOf(text: string, file: string): ShellFunction[] {
  const out: ShellFunction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?(.*)$/.exec(lines[i]!) ?? /^(\s*)function\s+([A-Za-z_][\w-]*)\s*\{(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const indent = m[1]!.length;
    // one-liner: name() { …; }
    if (/\}\s*$/.test(m[3]!)) {
      out.push({ name: m[2]!, file, line: i + 1, end: i + 1, body: m[3]! });
      continue;
    }
    const body: string[] = [m[3]!];
    let j = i + 1;
    for (; j < lines.length && j < i + 400; j++) {
      const l = lines[j]!;
      if (/^\s*\}\s*(;|#.*)?$/.test(l) && l.search(/\S/) <= indent) break;
      body.push(l);
    }
    out.push({ name: m[2]!, file, line: i + 1, end: j + 1, body: body.join('\n') });
  }
  return out;
}

/**
 * Expands a shell word. `lookup(name)` answers a variable (undefined: unknown);
 * `subst(cmd)` answers a command substitution's output (undefined: cannot tell).
 * Returns undefined when any part cannot be known.
 */
export function expandWord(word: string, lookup: (name: string) => string | undefined, subst: (cmd: string) => string | undefined): string | undefined {
  let out = '';
  let i = 0;
  let dq = false;
  while (i < word.length) {
    const c = word[i]!;
    if (!dq && c === "'") {
      const k = word.indexOf("'", i + 1);
      if (k < 0) return undefined;
      out += word.slice(i + 1, k);
      i = k + 1;
    } else if (c === '"') {
      dq = !dq;
      i++;
    } else if (c === '\\') {
      out += word[i + 1] ?? '';
      i += 2;
    } else if (c === '$' && word[i + 1] === '(') {
      const end = skipParens(word, i + 1);
      const v = subst(word.slice(i + 2, end - 1).trim());
      if (v === undefined) return undefined;
      out += v;
      i = end;
    } else if (c === '$' && word[i + 1] === '{') {
      const end = skipBraces(word, i + 1);
      const inner = word.slice(i + 2, end - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*|\d)(?:(:?[-=])(.*))?$/s.exec(inner);
      if (!m) return undefined;
      // positional parameters are unknown here: ${1:-prod} is its default
      let v = /^\d$/.test(m[1]!) ? undefined : lookup(m[1]!);
      if (/^\d$/.test(m[1]!) && !m[2]) return undefined;
      if (m[2]) {
        const empty = m[2].startsWith(':') ? !v : v === undefined;
        if (empty) v = expandWord(m[3]!, lookup, subst);
      }
      if (v === undefined) return undefined;
      out += v;
      i = end;
    } else if (c === '$' && /[A-Za-z_]/.test(word[i + 1] ?? '')) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1))!;
      const v = lookup(m[0]);
      if (v === undefined) return undefined;
      out += v;
      i += 1 + m[0].length;
    } else if (c === '$' && /[0-9@*#?!$-]/.test(word[i + 1] ?? '')) {
      return undefined;
    } else if (c === '`') {
      return undefined;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Expands a word where unknown variables become '\0' (a wildcard), for file patterns. */
export function expandPattern(word: string, lookup: (name: string) => string | undefined): string {
  const wild = (): string => '\0';
  let out = '';
  let i = 0;
  while (i < word.length) {
    const c = word[i]!;
    if (c === '"' || c === "'") {
      i++;
    } else if (c === '$' && word[i + 1] === '{') {
      const end = skipBraces(word, i + 1);
      const inner = word.slice(i + 2, end - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*|\d)(?::?[-=](.*))?$/s.exec(inner);
      out += (m && ((/^\d$/.test(m[1]!) ? undefined : lookup(m[1]!)) ?? (m[2] !== undefined ? expandWord(m[2], lookup, () => undefined) : undefined))) ?? wild();
      i = end;
    } else if (c === '$' && word[i + 1] === '(') {
      out += wild();
      i = skipParens(word, i + 1);
    } else if (c === '$' && /[A-Za-z_]/.test(word[i + 1] ?? '')) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1))!;
      out += lookup(m[0]) ?? wild();
      i += 1 + m[0].length;
    } else if (c === '$') {
      out += wild();
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
