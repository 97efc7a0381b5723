/**
 * Reads the deployment repo's sourceable config (configs/<env>.env): KEY=value lines, with
 * single/double quotes, comments, and bash arrays written one quoted entry per line.
 * It does not run bash: what bash would compute (substitutions) is not supported and is
 * reported with the file and line.
 */
export interface EnvFile {
  values: Record<string, string>;
  arrays: Record<string, string[]>;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

export function parseEnvFile(text: string, file: string): EnvFile {
  const values: Record<string, string> = {};
  const arrays: Record<string, string[]> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new ConfigError(file, `line ${i + 1}`, `expected KEY=value, got: ${line}`);
    const key = m[1]!;
    let rest = m[2]!;
    if (rest.startsWith('(')) {
      const items: string[] = [];
      rest = rest.slice(1);
      for (;;) {
        // entries are quoted, so a line whose unquoted tail is ')' closes the array
        const closed = stripComment(rest).endsWith(')');
        const body = closed ? stripComment(rest).slice(0, -1) : stripComment(rest);
        for (const w of splitWords(body, file, `${key} (line ${i + 1})`)) items.push(w);
        if (closed) break;
        i++;
        if (i >= lines.length) throw new ConfigError(file, key, 'array is not closed with )');
        rest = lines[i]!.trim();
      }
      arrays[key] = items;
      continue;
    }
    const words = splitWords(stripComment(rest), file, `${key} (line ${i + 1})`);
    values[key] = words.join(' ');
  }
  return { values, arrays };
}

function stripComment(s: string): string {
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return s.slice(0, i).trimEnd();
  }
  return s.trim();
}

function splitWords(s: string, file: string, field: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q: string | null = null;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) {
      if (c === q) q = null;
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      if (c === '$' || c === '`') throw new ConfigError(file, field, 'shell expansions ($…, `…`) are not supported in config values');
      cur += c;
      has = true;
    }
  }
  if (q) throw new ConfigError(file, field, 'unterminated quote');
  if (has || cur) out.push(cur);
  return out;
}
