// A fast reader for the plain subset of YAML config files are written in: block mappings and sequences,
// one-line flow collections ({ } and [ ]), plain and simply quoted scalars, comments. It yields the same data as
// the `yaml` package (YAML 1.2 core schema) at a tenth of the cost; asked to, it also keeps where each node starts,
// as the `yaml` package would place it, so a problem found in the data is located without the full parse. Anything
// outside the subset, and anything the full parser would refuse or warn about, makes it give up (undefined): the
// caller then takes the full, positional parse, which reports the problem at its file:line. Giving up is always safe.

/** Printable ASCII and line feeds only: tabs, CR, control bytes, a BOM and non-ASCII text take the full parse. */
const OUTSIDE_SUBSET = /[^\x20-\x7e\n]/;
/** Nesting deeper than this takes the full parse, so no input can exhaust the stack here. */
const MAX_DEPTH = 64;
/** The `yaml` package refuses implicit keys longer than this. */
const MAX_KEY_LENGTH = 1024;

const SPACE = 0x20, HASH = 0x23, DASH = 0x2d, COLON = 0x3a, COMMA = 0x2c, SQ = 0x27, DQ = 0x22;
const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;

class OutsideSubset extends Error {}
const outside = (): never => {
  throw new OutsideSubset();
};

/** The document's top-level mapping as plain data, or undefined when the text needs the full parser. */
export function readYamlSubset(text: string): { value: Record<string, unknown> } | undefined {
  return read(text, undefined);
}

/** A place in the text, 1-based. */
export interface Place {
  readonly line: number;
  readonly column: number;
}

/**
 * Where the nodes of a document read by the subset reader start, answering as the `yaml` package's Document would:
 * `node` is `doc.getIn(path, true).range[0]` (a mapping starts at its first key, a block sequence at its first
 * dash, a flow collection at its bracket, a quoted scalar at its quote, an empty value at the first character after
 * its ":" or "-" that is not a space), `key` is the key named `key` (compared as text) in the mapping at `path`.
 */
export interface SubsetPlaces {
  node(path: ReadonlyArray<string | number>): Place | undefined;
  key(path: ReadonlyArray<string | number>, key: string): Place | undefined;
}

/** The same reading as readYamlSubset, keeping where each node starts: for locating problems without the full parse. */
export function readYamlSubsetWithPlaces(text: string): { value: Record<string, unknown>; places: SubsetPlaces } | undefined {
  const places = new Map<object, NodePlaces>();
  const result = read(text, places);
  return result && { value: result.value, places: placesOf(result.value, places) };
}

function read(text: string, places: Map<object, NodePlaces> | undefined): { value: Record<string, unknown> } | undefined {
  if (OUTSIDE_SUBSET.test(text)) return undefined;
  try {
    const reader = new SubsetReader(text.split("\n"), places);
    return { value: reader.document() };
  } catch (error) {
    if (error instanceof OutsideSubset) return undefined;
    throw error;
  }
}

interface Entry {
  /** The key's value as YAML resolved it (a number for `22:`), which is how the yaml package's getIn matches it. */
  readonly key: unknown;
  readonly keyAt: Place;
  readonly value: unknown;
  readonly valueAt: Place;
}
type NodePlaces = { readonly at: Place; readonly entries: Entry[] } | { readonly at: Place; readonly items: Array<{ value: unknown; at: Place }> };

const place = (lineIndex: number, column: number): Place => ({ line: lineIndex + 1, column: column + 1 });

function placesOf(top: Record<string, unknown>, places: Map<object, NodePlaces>): SubsetPlaces {
  const placed = (value: unknown) => (value !== null && typeof value === "object" ? places.get(value) : undefined);
  // One step of the yaml package's getIn: a mapping's key by value (===), a sequence's item by index.
  const child = (value: unknown, step: string | number): { value: unknown; at: Place } | undefined => {
    const node = placed(value);
    if (!node) return undefined;
    if ("entries" in node) {
      const entry = node.entries.find((e) => e.key === step);
      return entry && { value: entry.value, at: entry.valueAt };
    }
    const index = typeof step === "string" && step !== "" ? Number(step) : step;
    return typeof index === "number" && Number.isInteger(index) && index >= 0 ? node.items[index] : undefined;
  };
  const walk = (path: ReadonlyArray<string | number>) => {
    let at: { value: unknown; at: Place } | undefined = { value: top, at: places.get(top)!.at };
    for (const step of path) {
      at = child(at.value, step);
      if (!at) return undefined;
    }
    return at;
  };
  return {
    node: (path) => walk(path)?.at,
    key: (path, key) => {
      const node = placed(walk(path)?.value);
      return node && "entries" in node ? node.entries.find((e) => String(e.key) === key)?.keyAt : undefined;
    },
  };
}

class SubsetReader {
  private readonly lines: string[];
  /** Column of each line's first character; -1 for blank and comment-only lines. */
  private readonly indents: number[];
  private next = 0;
  private depth = 0;
  /** Where nodes start, when asked for; undefined on the fast path. */
  readonly places: Map<object, NodePlaces> | undefined;
  /** The line a one-line value is being read from, for the places of flow collections. */
  valueLine = 0;

  constructor(lines: string[], places: Map<object, NodePlaces> | undefined) {
    this.lines = lines;
    this.places = places;
    this.indents = lines.map((line) => {
      let column = 0;
      while (column < line.length && line.charCodeAt(column) === SPACE) column++;
      if (column === line.length || line.charCodeAt(column) === HASH) return -1;
      // Document markers and directives (---, ..., %YAML) are left to the full parser.
      if (column === 0 && (line.startsWith("---") || line.startsWith("...") || line.charCodeAt(0) === 0x25)) outside();
      return column;
    });
  }

  document(): Record<string, unknown> {
    this.skipBlank();
    if (this.next === this.lines.length) outside();
    const indent = this.indents[this.next]!;
    if (isSequenceItem(this.lines[this.next]!, indent)) outside();
    const value = this.mapping(indent);
    this.skipBlank();
    if (this.next !== this.lines.length) outside();
    return value;
  }

  private skipBlank(): void {
    while (this.next < this.lines.length && this.indents[this.next]! < 0) this.next++;
  }

  /** The indent of the next significant line, or -1 at the end. */
  private peekIndent(): number {
    this.skipBlank();
    return this.next < this.lines.length ? this.indents[this.next]! : -1;
  }

  private nested<T>(read: () => T): T {
    if (++this.depth > MAX_DEPTH) outside();
    const value = read();
    this.depth--;
    return value;
  }

  /** A block node starting at the next line, more indented than its parent at `parentIndent`. */
  private block(parentIndent: number): unknown {
    const indent = this.peekIndent();
    if (indent <= parentIndent) return null;
    return this.nested(() => (isSequenceItem(this.lines[this.next]!, indent) ? this.sequence(indent) : this.mapping(indent)));
  }

  private mapping(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const entries: Entry[] | undefined = this.places && [];
    const first = this.next;
    for (let at = this.peekIndent(); at >= indent; at = this.peekIndent()) {
      if (at > indent) outside();
      const lineIndex = this.next;
      const line = this.lines[lineIndex]!;
      if (isSequenceItem(line, indent)) outside();
      const { key, value: keyValue, end } = mappingKey(line, indent);
      if (key in out) outside(); // a duplicate, or a name an object already has ("constructor"): the full parser decides
      this.next++;
      const rest = skipSpaces(line, end);
      let value: unknown;
      if (rest === line.length || line.charCodeAt(rest) === HASH) {
        // An indentless sequence ("key:" then "- item" at the key's own column) is left to the full parser.
        if (this.peekIndent() === indent && isSequenceItem(this.lines[this.next]!, indent)) outside();
        value = this.block(indent);
      } else {
        this.valueLine = lineIndex;
        value = inlineValue(line, rest, this);
        if (this.peekIndent() > indent) outside(); // a multi-line plain scalar, or bad indentation
      }
      out[key] = value;
      entries?.push({ key: keyValue, keyAt: place(lineIndex, indent), value, valueAt: this.placeOf(value) ?? place(lineIndex, rest) });
    }
    if (entries) this.places!.set(out, { at: place(first, indent), entries });
    return out;
  }

  private placeOf(value: unknown): Place | undefined {
    return value !== null && typeof value === "object" ? this.places?.get(value)?.at : undefined;
  }

  private sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    const items: Array<{ value: unknown; at: Place }> | undefined = this.places && [];
    const first = this.next;
    for (let at = this.peekIndent(); at >= indent; at = this.peekIndent()) {
      if (at > indent) outside();
      const lineIndex = this.next;
      const line = this.lines[lineIndex]!;
      if (!isSequenceItem(line, indent)) outside();
      const start = skipSpaces(line, indent + 1);
      let value: unknown;
      if (start === line.length || line.charCodeAt(start) === HASH) {
        this.next++;
        value = this.block(indent);
      } else if (isSequenceItem(line, start)) {
        outside(); // "- - x": a compact nested sequence
      } else if (startsMappingEntry(line, start)) {
        // "- key: value": a mapping whose keys line up with this first key's column.
        this.indents[this.next] = start;
        value = this.nested(() => this.mapping(start));
      } else {
        this.next++;
        this.valueLine = lineIndex;
        value = inlineValue(line, start, this);
      }
      out.push(value);
      items?.push({ value, at: this.placeOf(value) ?? place(lineIndex, start) });
      if (this.peekIndent() > indent) outside();
    }
    if (items) this.places!.set(out, { at: place(first, indent), items });
    return out;
  }

  enterFlow(): void {
    if (++this.depth > MAX_DEPTH) outside();
  }

  leaveFlow(): void {
    this.depth--;
  }
}

function isSequenceItem(line: string, column: number): boolean {
  return line.charCodeAt(column) === DASH && (column + 1 === line.length || line.charCodeAt(column + 1) === SPACE);
}

function skipSpaces(line: string, from: number): number {
  let at = from;
  while (at < line.length && line.charCodeAt(at) === SPACE) at++;
  return at;
}

/** Where a plain scalar may start: not at an indicator (- ? : , [ ] { } # & * ! | > ' " % @ `) or a space. */
function plainStart(c: number): boolean {
  switch (c) {
    case DASH: case 0x3f: case COLON: case COMMA: case OPEN_BRACKET: case CLOSE_BRACKET: case OPEN_BRACE: case CLOSE_BRACE:
    case HASH: case 0x26: case 0x2a: case 0x21: case 0x7c: case 0x3e: case SQ: case DQ: case 0x25: case 0x40: case 0x60:
    case SPACE:
      return false;
    default:
      return !Number.isNaN(c);
  }
}

/** The index of the ":" that ends a block key on this line (followed by a space or the end), or -1. */
function keyColon(line: string, from: number): number {
  for (let at = from; at < line.length; at++) {
    const c = line.charCodeAt(at);
    if (c === COLON && (at + 1 === line.length || line.charCodeAt(at + 1) === SPACE)) return at;
    if (c === HASH && line.charCodeAt(at - 1) === SPACE) return -1;
  }
  return -1;
}

function startsMappingEntry(line: string, start: number): boolean {
  const c = line.charCodeAt(start);
  if (c === SQ || c === DQ) {
    const end = quoted(line, start).end;
    return line.charCodeAt(end) === COLON && (end + 1 === line.length || line.charCodeAt(end + 1) === SPACE);
  }
  return plainStart(c) && keyColon(line, start) !== -1;
}

/** A block mapping key at `start`: its name in a plain object, its value as YAML resolved it, the index past ":". */
function mappingKey(line: string, start: number): { key: string; value: unknown; end: number } {
  const c = line.charCodeAt(start);
  let value: unknown;
  let colon: number;
  if (c === SQ || c === DQ) {
    const scalar = quoted(line, start);
    value = scalar.value;
    colon = scalar.end;
    if (line.charCodeAt(colon) !== COLON) outside();
  } else {
    if (!plainStart(c)) outside();
    colon = keyColon(line, start);
    if (colon === -1 || line.charCodeAt(colon - 1) === SPACE) outside();
    const text = line.slice(start, colon);
    if (text.includes(":")) outside(); // "a:b: c": where the key ends is the full parser's call
    value = resolvePlain(text);
  }
  if (colon - start > MAX_KEY_LENGTH) outside();
  if (colon + 1 < line.length && line.charCodeAt(colon + 1) !== SPACE) outside();
  return { key: keyText(value), value, end: colon + 1 };
}

/** How the `yaml` package names a scalar key in a plain object: null is "", everything else its String(). */
function keyText(value: unknown): string {
  const key = value === null ? "" : String(value);
  if (key === "<<") outside(); // a merge key in YAML 1.1 habits: the full parser decides
  return key;
}

/** A value that starts on the key's (or the dash's) line and must end on it, before an optional comment. */
function inlineValue(line: string, start: number, reader: SubsetReader): unknown {
  const c = line.charCodeAt(start);
  let value: unknown;
  let end: number;
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    ({ value, end } = flow(line, start, reader));
  } else if (c === SQ || c === DQ) {
    ({ value, end } = quoted(line, start));
  } else {
    return plainBlockScalar(line, start);
  }
  const after = skipSpaces(line, end);
  if (after < line.length && !(line.charCodeAt(after) === HASH && after > end)) outside();
  return value;
}

/** A plain scalar in block context: up to " #" or the end of the line; ": " inside would be a nested mapping. */
function plainBlockScalar(line: string, start: number): unknown {
  if (!plainStart(line.charCodeAt(start))) outside();
  let end = line.length;
  for (let at = start + 1; at < line.length; at++) {
    const c = line.charCodeAt(at);
    if (c === COLON && (at + 1 === line.length || line.charCodeAt(at + 1) === SPACE)) outside();
    if (c === HASH && line.charCodeAt(at - 1) === SPACE) {
      end = at;
      break;
    }
  }
  while (line.charCodeAt(end - 1) === SPACE) end--;
  return resolvePlain(line.slice(start, end));
}

/** A quoted scalar on one line: '…' with '' for a quote, or "…" without escapes. */
function quoted(line: string, start: number): { value: string; end: number } {
  const quote = line.charCodeAt(start);
  if (quote === DQ) {
    const close = line.indexOf('"', start + 1);
    if (close === -1) outside();
    const value = line.slice(start + 1, close);
    if (value.includes("\\")) outside(); // escapes are left to the full parser
    return { value, end: close + 1 };
  }
  let value = "";
  let from = start + 1;
  for (;;) {
    const close = line.indexOf("'", from);
    if (close === -1) outside();
    value += line.slice(from, close);
    if (line.charCodeAt(close + 1) !== SQ) return { value, end: close + 1 };
    value += "'";
    from = close + 2;
  }
}

/** A flow collection that opens and closes on this line. */
function flow(line: string, start: number, reader: SubsetReader): { value: unknown; end: number } {
  reader.enterFlow();
  const isMap = line.charCodeAt(start) === OPEN_BRACE;
  const close = isMap ? CLOSE_BRACE : CLOSE_BRACKET;
  const map: Record<string, unknown> = {};
  const list: unknown[] = [];
  const lineIndex = reader.valueLine;
  const entries: Entry[] | undefined = reader.places && [];
  const items: Array<{ value: unknown; at: Place }> | undefined = reader.places && [];
  const done = (end: number) => {
    reader.leaveFlow();
    reader.places?.set(isMap ? map : list, isMap ? { at: place(lineIndex, start), entries: entries! } : { at: place(lineIndex, start), items: items! });
    return { value: isMap ? map : list, end };
  };
  let at = skipSpaces(line, start + 1);
  if (line.charCodeAt(at) === close) return done(at + 1);
  for (;;) {
    if (isMap) {
      const { key, value: keyValue, end } = flowKey(line, at);
      if (key in map) outside();
      const valueStart = skipSpaces(line, end);
      const item = flowValue(line, valueStart, reader);
      map[key] = item.value;
      entries?.push({ key: keyValue, keyAt: place(lineIndex, at), value: item.value, valueAt: place(lineIndex, valueStart) });
      at = skipSpaces(line, item.end);
    } else {
      const itemStart = at;
      const item = flowValue(line, at, reader);
      at = skipSpaces(line, item.end);
      if (line.charCodeAt(at) === COLON) outside(); // "[a: b]": a one-pair mapping inside a sequence
      list.push(item.value);
      items?.push({ value: item.value, at: place(lineIndex, itemStart) });
    }
    const c = line.charCodeAt(at);
    if (c === close) return done(at + 1);
    if (c !== COMMA) outside();
    at = skipSpaces(line, at + 1);
    if (line.charCodeAt(at) === close) outside(); // a trailing comma
  }
}

/** A key inside { }: quoted, or plain up to ": "; returns the index after ": ". */
function flowKey(line: string, start: number): { key: string; value: unknown; end: number } {
  const c = line.charCodeAt(start);
  let value: unknown;
  let colon: number;
  if (c === SQ || c === DQ) {
    const scalar = quoted(line, start);
    value = scalar.value;
    colon = scalar.end;
  } else {
    if (!plainStart(c)) outside();
    colon = start + 1;
    for (; colon < line.length; colon++) {
      const k = line.charCodeAt(colon);
      if (k === COLON) break;
      if (k === COMMA || k === OPEN_BRACKET || k === CLOSE_BRACKET || k === OPEN_BRACE || k === CLOSE_BRACE || k === HASH) outside();
    }
    if (line.charCodeAt(colon - 1) === SPACE) outside();
    value = resolvePlain(line.slice(start, colon));
  }
  if (line.charCodeAt(colon) !== COLON || line.charCodeAt(colon + 1) !== SPACE) outside();
  if (colon - start > MAX_KEY_LENGTH) outside();
  return { key: keyText(value), value, end: colon + 2 };
}

/** A value inside { } or [ ]: a nested collection, a quoted scalar, or a plain one up to , ] } (no ":" or " #"). */
function flowValue(line: string, start: number, reader: SubsetReader): { value: unknown; end: number } {
  const c = line.charCodeAt(start);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return flow(line, start, reader);
  if (c === SQ || c === DQ) return quoted(line, start);
  if (!plainStart(c)) outside();
  let end = start + 1;
  for (; end < line.length; end++) {
    const k = line.charCodeAt(end);
    if (k === COMMA || k === CLOSE_BRACKET || k === CLOSE_BRACE) break;
    if (k === COLON || k === OPEN_BRACKET || k === OPEN_BRACE || (k === HASH && line.charCodeAt(end - 1) === SPACE)) outside();
  }
  if (end === line.length) outside(); // the collection does not close on this line
  let last = end;
  while (line.charCodeAt(last - 1) === SPACE) last--;
  return { value: resolvePlain(line.slice(start, last)), end };
}

const DECIMAL = /^[-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
/** Octal, hexadecimal, infinity and NaN: left to the full parser. */
const OTHER_NUMBER = /^(?:0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

/** A plain scalar's value under the YAML 1.2 core schema, as the `yaml` package resolves it. */
function resolvePlain(text: string): unknown {
  switch (text) {
    case "~": case "null": case "Null": case "NULL": return null;
    case "true": case "True": case "TRUE": return true;
    case "false": case "False": case "FALSE": return false;
  }
  const c = text.charCodeAt(0);
  // Only text starting with a digit, a sign or a dot can be a number.
  if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === DASH || c === 0x2e) {
    if (DECIMAL.test(text)) return parseInt(text, 10);
    if (FLOAT.test(text) || FLOAT_EXP.test(text)) return parseFloat(text);
    if (OTHER_NUMBER.test(text)) outside();
  }
  return text;
}
