/**
 * Finds where strict JSON text goes wrong. `JSON.parse` on Node 20 often names no position ("Unexpected
 * token '}', ... is not valid JSON"); users need a line and column, so this scanner walks the RFC 8259
 * grammar and stops at the first offending character.
 */

/** The offset (0-based, in UTF-16 units) and reason of the first syntax error, or undefined if valid. */
export function findJsonError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  const n = text.length;
  // Depth is bounded so hostile nesting cannot exhaust the stack.
  const MAX_DEPTH = 512;

  const ws = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const fail = (reason: string): { offset: number; reason: string } => ({ offset: i, reason });
  const describe = (): string => (i >= n ? "end of input" : `'${text[i]}'`);

  const str = (): { offset: number; reason: string } | undefined => {
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c < 0x20) return fail("control character in string");
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) return fail("bad \\u escape");
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else return fail("bad escape");
      } else i++;
    }
    return fail("unterminated string");
  };

  const num = (): { offset: number; reason: string } | undefined => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m === null || m[0] === "" || m[0] === "-") return fail(`unexpected ${describe()}`);
    i += m[0].length;
    return undefined;
  };

  const value = (depth: number): { offset: number; reason: string } | undefined => {
    if (depth > MAX_DEPTH) return fail("nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return undefined;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') return fail(`expected a property name in double quotes, found ${describe()}`);
        const e = str();
        if (e) return e;
        ws();
        if (text[i] !== ":") return fail(`expected ':', found ${describe()}`);
        i++;
        const v = value(depth + 1);
        if (v) return v;
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return undefined;
        }
        return fail(`expected ',' or '}', found ${describe()}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return undefined;
      }
      for (;;) {
        const v = value(depth + 1);
        if (v) return v;
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return undefined;
        }
        return fail(`expected ',' or ']', found ${describe()}`);
      }
    }
    if (c === '"') return str();
    for (const lit of ["true", "false", "null"]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return undefined;
      }
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return num();
    return fail(`unexpected ${describe()}`);
  };

  // A byte order mark is allowed before the text.
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const e = value(0);
  if (e) return e;
  ws();
  if (i < n) return fail(`unexpected ${describe()} after the value`);
  return undefined;
}
