import { StringDecoder } from 'node:string_decoder';

/** CloudWatch Logs' maximum event size (counted here in UTF-16 units); a longer line is split. */
export const MAX_LINE_BYTES = 256 * 1024;

/**
 * Splits a byte stream into lines (LF or CRLF), UTF-8 safe across chunk boundaries.
 * `end()` flushes a last line without a newline.
 */
export function lineSplitter(emit: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  const out = (line: string) => {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (l.length <= MAX_LINE_BYTES) return emit(l);
    for (let i = 0; i < l.length; i += MAX_LINE_BYTES) emit(l.slice(i, i + MAX_LINE_BYTES));
  };
  return {
    push(chunk) {
      buf += decoder.write(chunk);
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        out(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      while (buf.length > MAX_LINE_BYTES) {
        emit(buf.slice(0, MAX_LINE_BYTES));
        buf = buf.slice(MAX_LINE_BYTES);
      }
    },
    end() {
      buf += decoder.end();
      if (buf.length > 0) out(buf);
      buf = '';
    },
  };
}
