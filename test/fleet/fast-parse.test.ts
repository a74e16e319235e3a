// The fast reader of fleet.yaml and the full positional parse agree: on every text the fast reader accepts, the
// `yaml` package finds no error or warning and yields the same data, and every node and key starts where the
// `yaml` package says; and the loader's result (model, errors with file:line:column, warnings) is the same
// whichever path it takes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Document, isCollection, isMap, isScalar, LineCounter, parseDocument, visit, type ToStringOptions } from "yaml";
import { loadFleet, locate } from "../../functions/fleet/load.ts";
import { documentLocator } from "../../functions/fleet/yaml-positional.ts";
import { DirectoryTree, MemoryTree } from "../../functions/fleet/tree.ts";
import { readYamlSubset, readYamlSubsetWithPlaces } from "../../functions/fleet/yaml-subset.ts";
import { EXAMPLES_DIR } from "../support/fixtures.ts";
import { largeConfig } from "../support/synth.ts";
import { CASES } from "./bad-config-cases.ts";

/** What the loader's full path makes of a text: its errors and tag warnings, and its data. */
function fullParse(text: string) {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, strict: true });
  const problems = [...doc.errors, ...doc.warnings].map((e) => e.code);
  return { problems, value: problems.length === 0 ? doc.toJS({ maxAliasCount: 100 }) as unknown : undefined };
}

/** Every path to a node of `value`, and next to each a few that lead nowhere or name a key by another type. */
function pathsOf(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  const paths = [path, [...path, "missing"], [...path, 7], [...path, "0"]];
  if (Array.isArray(value)) value.forEach((item, i) => paths.push(...pathsOf(item, [...path, i])));
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      paths.push(...pathsOf(item, [...path, key]));
      if (key !== "" && !Number.isNaN(Number(key))) paths.push([...path, Number(key)]);
    }
  }
  return paths;
}

/** The property every text must keep; returns whether the fast reader took it. */
function agrees(text: string): boolean {
  const fast = readYamlSubset(text);
  if (!fast) return false;
  const full = fullParse(text);
  expect(full.problems, text).toEqual([]);
  expect(fast.value, text).toStrictEqual(full.value);
  // Places: the node and key positions the loader would locate a problem at, on every path, as the full parse says.
  const placed = readYamlSubsetWithPlaces(text)!;
  expect(placed.value).toStrictEqual(fast.value);
  const lineCounter = new LineCounter();
  const document = documentLocator(parseDocument(text, { lineCounter, uniqueKeys: true, strict: true }), lineCounter);
  for (const path of pathsOf(fast.value)) {
    const where = `${JSON.stringify(path)} in ${JSON.stringify(text)}`;
    expect(placed.places.node(path), where).toEqual(document.node(path));
    expect(locate(placed.places, path), where).toEqual(locate(document, path));
    for (const key of ["missing", "", "null", "0", ...Object.keys(Object(path.reduce<unknown>((v, step) => (v as Record<string, unknown> | undefined)?.[step], fast.value)))]) {
      expect(placed.places.key(path, key), `${where} key ${key}`).toEqual(document.key(path, key));
    }
  }
  return true;
}

const EXAMPLE = readFileSync(join(EXAMPLES_DIR, "fleet.yaml"), "utf8");
const LARGE = readFileSync(join(largeConfig({ haproxyListeners: 40 }), "fleet.yaml"), "utf8");

describe("the fast reader", () => {
  it("reads the example and a large generated config as the full parser does", () => {
    expect(agrees(EXAMPLE)).toBe(true);
    expect(agrees(LARGE)).toBe(true);
  });

  it("reads what the `yaml` package resolves by the core schema: numbers, booleans, nulls and quotes", () => {
    const text = [
      "a: 1", "b: +7", "c: 0012", "d: 1.50", "e: 1e3", "f: .5", "g: true", "h: False", "i: ~", "j: null", "k:", "l: 'it''s'",
      'm: "x # y"', "n: a#b", "o: 1.2.3", "p: 10.0.0.0/8", "q: arn:aws:s3:::b", "r: [1, '2', \"3\", x y, { s: t }]", "u: {}", "v: []",
      "22: port", "'23': quoted", "null: empty key", "w: 5 seconds  # a comment", "x:   # nothing", "  # indented comment", "y:",
      "  - - x", "z: end",
    ].join("\n");
    // "- - x" is a compact nested sequence: outside the subset, so the whole text takes the full parse.
    expect(readYamlSubset(text)).toBeUndefined();
    const plain = text.replace("  - - x", "  - x");
    expect(agrees(plain)).toBe(true);
    expect(readYamlSubset(plain)!.value).toMatchObject({ b: 7, c: 12, d: 1.5, e: 1000, h: false, i: null, k: null, "22": "port", "": "empty key" });
  });

  it("places nodes where the full parser does, in every layout of the subset", () => {
    const layouts = [
      "a:\n  # a comment before the first key\n  b: 1\n  c:\n  d:   # empty, then a comment\n  e:\n    -\n      f: 1\n    - # comment\n      g: [1, { h: i }]\n    -\n    - 'q'\n",
      "# leading comment\n\nlist:\n  - a: 1\n    b: \"two\"\n  -   c: 3\n  - [ ]\n  - { }\nz:   \nlast:",
      "services:\n  r:\n    portForward: { '22': 2222, 23: 2323 }\n    22: numeric\n    \"q\": 1\n",
    ];
    for (const text of layouts) expect(agrees(text), text).toBe(true);
  });

  it("gives up on everything it does not handle itself, and the full parser then decides", () => {
    for (const text of [
      "a: &x 1\nb: *x\n", "a: !tag x\n", "a: |\n  text\n", "a: >\n  text\n", "---\na: 1\n", "a: 1\n---\nb: 2\n", "%YAML 1.2\n---\na: 1\n",
      "a: 1\na: 2\n", "a:\n- x\n", "a: b\n  c\n", "a: [x,\n  y]\n", "a: \"x\\ty\"\n", "a: 0x1f\n", "a: .inf\n", "a:\tb\n",
      "a: 1\r\nb: 2\r\n", "\ufeffa: 1\n", "a: \u00e9\n", "? a\n: b\n", "a: b: c\n", "a: [x: y]\n", "a: [x,]\n", "a: { b }\n",
      "- a\n", "a: -1\n", "a: [fe80::1]\n", "a:b: c\n", "<<: { a: 1 }\n", "constructor: x\n", "a: 'x\n", "a: [x] y\n", "a: \"x\"y\n",
      " a: 1\nb: 2\n", "a:\n    b: 1\n  c: 2\n", "a: b #c: d\n  e\n", "",
    ]) {
      expect(readYamlSubset(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it("never reads a text that the full parser refuses or reads otherwise (random edits of real configs)", () => {
    const TOKENS = [
      " ", "  ", "\n", "\n  ", "-", "- ", ":", ": ", "#", " #", "'", "''", '"', "{", "}", "[", "]", ",", ", ", "&a ", "*a", "!t ", "|", ">",
      "?", "? ", "~", "0x1", "1e3", ".5", "null", "true", "\\", "<<", "---", "\t", "%", "@", "`", "a: b", "k:", "0", "-1", "1.",
    ];
    const edit = fc.oneof(
      fc.record({ at: fc.nat(), insert: fc.constantFrom(...TOKENS) }),
      fc.record({ at: fc.nat(), remove: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ at: fc.nat(), duplicateLine: fc.constant(true) }),
    );
    let accepted = 0;
    fc.assert(fc.property(fc.constantFrom(EXAMPLE, LARGE, ...CASES.map((c) => c.files["fleet.yaml"] ?? "")), fc.array(edit, { minLength: 1, maxLength: 3 }), (base, edits) => {
      let text = base;
      for (const e of edits) {
        const at = e.at % (text.length + 1);
        if ("insert" in e) text = text.slice(0, at) + e.insert + text.slice(at);
        else if ("remove" in e) text = text.slice(0, at) + text.slice(at + e.remove);
        else {
          const start = text.lastIndexOf("\n", at - 1) + 1;
          const end = text.indexOf("\n", at);
          const line = text.slice(start, end === -1 ? text.length : end + 1);
          text = text.slice(0, start) + line + text.slice(start);
        }
      }
      if (agrees(text)) accepted++;
    }), { numRuns: 1500 });
    // About a fifth of the edited configs stay readable: the property is about real acceptances, not only refusals.
    expect(accepted).toBeGreaterThan(150);
  });

  it("reads generated documents in the styles people write, as the full parser does", () => {
    const TRICKY = [
      "", " ", "a b", "x: y", "#", "a #b", "a#b", "-", "- x", "?", ":", "::1", "fe80::1", "[x]", "{x}", ",", "'", '"', "it's", "~", "null", "Null",
      "true", "yes", "no", "on", "0", "-0", "007", "1.0", "1e3", ".5", "0x1F", "0o17", ".inf", "-.inf", ".nan", "1_000", "12:30", "<<", "*a", "&a",
      "!a", "|", ">", "%", "@", "`", "a\\b", "10.0.0.0/8", "arn:aws:s3:::b", "/vpn/dc1", "5s", "constructor", "__proto__", "toString",
    ];
    const key = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), fc.constantFrom(...TRICKY));
    const scalar = fc.oneof(fc.constantFrom(...TRICKY), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null),
      fc.string({ unit: fc.constantFrom(..."ab :#-'\"{}[],.&*!|>?%@`\\/0123456789"), maxLength: 10 }));
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("list"), tie("map")),
      list: fc.array(tie("tree"), { maxLength: 4 }),
      map: fc.dictionary(key, tie("tree"), { maxKeys: 4 }),
    }));
    const styles: ToStringOptions[] = [
      {}, { indent: 4 }, { indentSeq: false }, { defaultStringType: "QUOTE_SINGLE" }, { defaultStringType: "QUOTE_DOUBLE" },
      { defaultKeyType: "PLAIN", flowCollectionPadding: false }, { nullStr: "~" }, { trueStr: "True" },
    ];
    let accepted = 0;
    fc.assert(fc.property(fc.dictionary(key, tree, { minKeys: 1, maxKeys: 5 }), fc.constantFrom(...styles), fc.boolean(), (value, style, flowLeaves) => {
      const doc = new Document(value);
      // Leaf collections written { a: b } / [a, b] on one line, as the examples do.
      if (flowLeaves) {
        visit(doc, { Collection(_, node) {
          if (node !== doc.contents && node.items.every((item) => (isMap(node) ? isScalar((item as { value: unknown }).value) : !isCollection(item)))) node.flow = true;
        } });
      }
      if (agrees(doc.toString(style))) accepted++;
    }), { numRuns: 1500 });
    // About a fifth of the generated documents stay inside the subset (tricky scalars push the rest out).
    expect(accepted).toBeGreaterThan(150);
  });
});

describe("the loader gives the same result on both paths", () => {
  const bothPaths = async (files: Record<string, string>) => {
    const fast = await loadFleet(new MemoryTree(files));
    const positional = await loadFleet(new MemoryTree(files), { fastParse: false });
    expect(fast).toStrictEqual(positional);
    return fast;
  };

  it("for every bad config of the corpus: the same errors at the same file:line:column, in the same words", async () => {
    let fastRead = 0;
    for (const c of CASES) {
      const result = await bothPaths(c.files);
      expect(result.ok, c.name).toBe(false);
      if (readYamlSubset(c.files["fleet.yaml"] ?? "")) fastRead++;
    }
    // Most of the corpus is read fast and its errors located by the positional parse afterwards.
    expect(fastRead).toBeGreaterThan(CASES.length / 2);
  });

  it("for the example (warnings located) and a large config (no findings: no positional parse)", async () => {
    const example = await loadFleet(new DirectoryTree(EXAMPLES_DIR));
    expect(example).toStrictEqual(await loadFleet(new DirectoryTree(EXAMPLES_DIR), { fastParse: false }));
    expect(example.warnings.length).toBeGreaterThan(0);
    const large = largeConfig({ haproxyListeners: 40 });
    expect((await bothPaths({ "fleet.yaml": LARGE, "allowlists/egress.txt": readFileSync(join(large, "allowlists", "egress.txt"), "utf8") })).ok).toBe(true);
  });

  it("for random edits of real configs, valid or not", async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(EXAMPLE, ...CASES.map((c) => c.files["fleet.yaml"] ?? "")), fc.nat(), fc.constantFrom("", "1", "x", " ", ": ", "\n", "- ", "#"),
      async (base, at, insert) => {
        const where = at % (base.length + 1);
        const allowlists = { "allowlists/egress.txt": "example.com\n", "allow.txt": "example.com\n" };
        await bothPaths({ "fleet.yaml": base.slice(0, where) + insert + base.slice(where), ...allowlists });
      }), { numRuns: 300 });
  });
});
