/**
 * Consul's `?filter=` language (go-bexpr), one generation at a time, as read in
 * github.com/hashicorp/go-bexpr at its tags:
 *
 * - `0.1.2` (v0.1.0-v0.1.3; Consul 1.5-1.10): selectors and operators are validated against the
 *   endpoint's field types when the filter is created (`Selector ... is not valid`, `Invalid match
 *   operator ...`): strings take `==`, `!=`, `in`, `not in`, `matches`; maps take `in`, `not in`,
 *   `is empty`; slices of primitives `in` and emptiness; a selector through a slice of structs
 *   (`Checks.Status`) matches when any element does; a missing map key is "not present".
 * - `0.1.10` (v0.1.4-v0.1.11; Consul 1.11 on): values are found with mitchellh/pointerstructure at
 *   evaluation time, nothing is validated up front; an unknown field, a slice crossed without an
 *   index (`Checks.Status`) and a **missing map key** make the whole request fail.
 * - `0.1.12` (v0.1.12 on): as 0.1.10, but a missing map key is "not present" again
 *   (`NotPresentDisposition`), so `Meta.x is empty` holds for an absent `x`.
 *
 * Every generation parses `and`, `or`, `not`, parentheses, `==`, `!=`, `is empty`, `is not empty`,
 * `in`, `not in`, `contains`, `not contains`, `matches`, `not matches`, `Meta["key"]` index
 * selectors, and double-quoted or backquoted strings (a `"` can never appear inside the former).
 * Not implemented: JSON-pointer selectors and `any`/`all` collection expressions.
 */

export type BexprVersion = '0.1.2' | '0.1.10' | '0.1.12';

/** The filter could not be created (syntax, or a selector/operator 0.1.2 refuses). */
export class FilterError extends Error {}
/** The filter failed while evaluating an element (0.1.10 on): Consul fails the request. */
export class FilterEvaluationError extends Error {}

/**
 * Field types of an endpoint's data, by dotted path; `*` stands for any key of a map. Elements of
 * a `structs` slice have their fields under the slice's own path (`Checks.Status`).
 */
export type FieldType = 'string' | 'int' | 'bool' | 'struct' | 'map' | 'strings' | 'structs';
export type SelectorSchema = Readonly<Record<string, FieldType>>;

export interface Filter {
  /** Throws {@link FilterEvaluationError} where the generation fails the request. */
  matches(datum: unknown): boolean;
}

type Operator = '==' | '!=' | 'is empty' | 'is not empty' | 'in' | 'not in' | 'matches' | 'not matches';

type Node =
  | { readonly kind: 'and' | 'or'; readonly left: Node; readonly right: Node }
  | { readonly kind: 'not'; readonly operand: Node }
  | { readonly kind: 'match'; readonly selector: readonly string[]; readonly operator: Operator; readonly value: string | undefined };

/** go-bexpr's `MatchOperator.String()`, used in its messages. */
const OPERATOR_NAMES: Readonly<Record<Operator, string>> = {
  '==': 'Equal',
  '!=': 'Not Equal',
  in: 'In',
  'not in': 'Not In',
  'is empty': 'Is Empty',
  'is not empty': 'Is Not Empty',
  matches: 'Matches',
  'not matches': 'Not Matches',
};

/** What 0.1.2 allows on each field type (generateFieldConfigurationInternal). */
const LEGACY_OPERATORS: Readonly<Record<FieldType, readonly Operator[]>> = {
  string: ['==', '!=', 'in', 'not in', 'matches', 'not matches'],
  int: ['==', '!='],
  bool: ['==', '!='],
  struct: [],
  map: ['is empty', 'is not empty', 'in', 'not in'],
  strings: ['in', 'not in', 'is empty', 'is not empty'],
  structs: ['is empty', 'is not empty'],
};

/** Parses `expression` as `version` does; throws {@link FilterError} where its CreateFilter fails. */
export function createFilter(expression: string, schema: SelectorSchema, version: BexprVersion): Filter {
  const tokens = tokenize(expression);
  const parser = new Parser(tokens);
  const ast = parser.parseOr();
  if (parser.position < tokens.length) throw new FilterError(`1:${parser.position + 1}: unexpected token ${JSON.stringify(tokens[parser.position]?.text)}`);
  const typed = new TypedSchema(schema);
  if (version === '0.1.2') {
    validateLegacy(ast, typed);
    return { matches: (datum) => evaluate(ast, (match) => matchLegacy(match, datum, typed)) };
  }
  return { matches: (datum) => evaluate(ast, (match) => matchPointer(match, datum, typed, version)) };
}

interface Token {
  readonly text: string;
  readonly kind: 'word' | 'string' | 'symbol';
}

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expression.length) {
    const char = expression[i] as string;
    if (/\s/.test(char)) {
      i++;
    } else if (char === '"' || char === '`') {
      // DoubleStringChar <- !'"' . : the literal ends at the next quote, escapes or not; then strconv.Unquote.
      const end = expression.indexOf(char, i + 1);
      if (end < 0) throw new FilterError(`1:${i + 1}: Unterminated string literal`);
      const raw = expression.slice(i, end + 1);
      tokens.push({ text: char === '`' ? raw.slice(1, -1) : unquote(raw, i), kind: 'string' });
      i = end + 1;
    } else if (char === '(' || char === ')' || char === '[' || char === ']') {
      tokens.push({ text: char, kind: 'symbol' });
      i++;
    } else if ((char === '=' || char === '!') && expression[i + 1] === '=') {
      tokens.push({ text: `${char}=`, kind: 'symbol' });
      i += 2;
    } else {
      const match = /^[A-Za-z0-9_.\-/:+]+/.exec(expression.slice(i));
      if (match === null) throw new FilterError(`1:${i + 1}: no match found, expected: "(", "not" or selector`);
      tokens.push({ text: match[0], kind: 'word' });
      i += match[0].length;
    }
  }
  return tokens;
}

/** Go's `strconv.Unquote` for a double-quoted literal: JSON's escapes plus a few more. */
function unquote(raw: string, position: number): string {
  try {
    const text = JSON.parse(raw.replace(/\\([abfnrtv\\'])/g, (whole, c: string) => (c === "'" ? "'" : c === 'a' ? '\\u0007' : c === 'v' ? '\\u000b' : whole))) as unknown;
    if (typeof text === 'string') return text;
  } catch {
    // Falls through to the error below.
  }
  throw new FilterError(`1:${position + 1}: invalid syntax in string literal ${raw}`);
}

class Parser {
  position = 0;
  readonly #tokens: readonly Token[];

  constructor(tokens: readonly Token[]) {
    this.#tokens = tokens;
  }

  parseOr(): Node {
    let left = this.#parseAnd();
    while (this.#peekWord('or')) {
      this.position++;
      left = { kind: 'or', left, right: this.#parseAnd() };
    }
    return left;
  }

  #parseAnd(): Node {
    let left = this.#parseNot();
    while (this.#peekWord('and')) {
      this.position++;
      left = { kind: 'and', left, right: this.#parseNot() };
    }
    return left;
  }

  #parseNot(): Node {
    if (this.#peekWord('not')) {
      this.position++;
      return { kind: 'not', operand: this.#parseNot() };
    }
    const token = this.#tokens[this.position];
    if (token?.kind === 'symbol' && token.text === '(') {
      this.position++;
      const inner = this.parseOr();
      this.#expect(')');
      return inner;
    }
    return this.#parseMatch();
  }

  #parseMatch(): Node {
    const start = this.position;
    const first = this.#next('a selector or value');
    const second = this.#tokens[this.position];
    // `<value> in <selector>` and `<value> not in <selector>`
    if (second?.kind === 'word' && (second.text === 'in' || (second.text === 'not' && this.#tokens[this.position + 1]?.text === 'in'))) {
      this.position += second.text === 'in' ? 1 : 2;
      const selector = this.#selector(this.#next('a selector'));
      return { kind: 'match', selector, operator: second.text === 'in' ? 'in' : 'not in', value: first.text };
    }
    this.position = start;
    const selector = this.#selector(this.#next('a selector'));
    const operator = this.#next('an operator');
    if (operator.text === '==' || operator.text === '!=') {
      return { kind: 'match', selector, operator: operator.text, value: this.#value() };
    }
    if (operator.text === 'is') {
      const negated = this.#peekWord('not');
      if (negated) this.position++;
      const empty = this.#next('"empty"');
      if (empty.text !== 'empty') throw new FilterError(`1:${this.position}: expected "empty", got ${JSON.stringify(empty.text)}`);
      return { kind: 'match', selector, operator: negated ? 'is not empty' : 'is empty', value: undefined };
    }
    let negated = false;
    let word = operator.text;
    if (word === 'not') {
      negated = true;
      word = this.#next('"contains" or "matches"').text;
    }
    if (word === 'contains' || word === 'matches') {
      const value = this.#value();
      if (word === 'matches') {
        try {
          new RegExp(value);
        } catch {
          throw new FilterError(`Failed to compile regular expression ${JSON.stringify(value)}`);
        }
        return { kind: 'match', selector, operator: negated ? 'not matches' : 'matches', value };
      }
      return { kind: 'match', selector, operator: negated ? 'not in' : 'in', value };
    }
    throw new FilterError(`1:${this.position}: no match found, expected an operator, got ${JSON.stringify(operator.text)}`);
  }

  /** `Identifier ("." Identifier | "[" string "]")*`, the first part a letter then letters, digits, `_`. */
  #selector(token: Token): string[] {
    if (token.kind !== 'word' || !/^[A-Za-z][A-Za-z0-9_/]*(\.[A-Za-z0-9_/]+)*$/.test(token.text)) {
      throw new FilterError(`1:${this.position}: expected a selector, got ${JSON.stringify(token.text)}`);
    }
    const path = token.text.split('.');
    while (this.#tokens[this.position]?.text === '[' && this.#tokens[this.position]?.kind === 'symbol') {
      this.position++;
      const key = this.#next('an index');
      if (key.kind !== 'string') throw new FilterError(`1:${this.position}: Invalid index`);
      this.#expect(']');
      path.push(key.text);
      // An index may be followed by more dotted parts: Meta["a"].b is not Consul's, but legal.
      const rest = this.#tokens[this.position];
      if (rest?.kind === 'word' && rest.text.startsWith('.')) {
        this.position++;
        path.push(...rest.text.slice(1).split('.'));
      }
    }
    return path;
  }

  #value(): string {
    const token = this.#next('a value');
    if (token.kind === 'symbol') throw new FilterError(`1:${this.position}: expected a value, got ${JSON.stringify(token.text)}`);
    return token.text;
  }

  #peekWord(word: string): boolean {
    const token = this.#tokens[this.position];
    return token?.kind === 'word' && token.text === word;
  }

  #expect(symbol: string): void {
    const token = this.#next(JSON.stringify(symbol));
    if (token.text !== symbol) throw new FilterError(`1:${this.position}: expected ${JSON.stringify(symbol)}, got ${JSON.stringify(token.text)}`);
  }

  #next(expected: string): Token {
    const token = this.#tokens[this.position];
    if (token === undefined) throw new FilterError(`1:${this.position + 1}: unexpected end of expression, expected ${expected}`);
    this.position++;
    return token;
  }
}

/** Types of the schema, looked up by path; map keys and slice indexes resolve to `*` and the slice's own path. */
class TypedSchema {
  readonly #types: SelectorSchema;

  constructor(types: SelectorSchema) {
    this.#types = types;
  }

  /** Type at `pattern` (a schema path), `struct` for the root. */
  typeOf(pattern: string): FieldType | undefined {
    return pattern === '' ? 'struct' : this.#types[pattern];
  }

  /** The schema path of a struct field or map value under `pattern`. */
  child(pattern: string, part: string): string | undefined {
    const type = this.typeOf(pattern);
    const join = (name: string): string => (pattern === '' ? name : `${pattern}.${name}`);
    if (type === 'map') return this.#types[join('*')] === undefined ? undefined : join('*');
    if (type === 'struct' || type === 'structs') return this.#types[join(part)] === undefined ? undefined : join(part);
    return undefined;
  }
}

function evaluate(node: Node, match: (node: Extract<Node, { kind: 'match' }>) => boolean): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, match) && evaluate(node.right, match);
    case 'or':
      return evaluate(node.left, match) || evaluate(node.right, match);
    case 'not':
      return !evaluate(node.operand, match);
    case 'match':
      return match(node);
  }
}

// --- 0.1.2: validated field configurations ------------------------------------------------

/** go's %q of a []string selector: ["Service" "Meta"]. */
function goSelector(path: readonly string[]): string {
  return `[${path.map((part) => JSON.stringify(part)).join(' ')}]`;
}

function validateLegacy(node: Node, schema: TypedSchema): void {
  switch (node.kind) {
    case 'and':
    case 'or':
      validateLegacy(node.left, schema);
      validateLegacy(node.right, schema);
      return;
    case 'not':
      validateLegacy(node.operand, schema);
      return;
    case 'match':
      validateLegacyMatch(node, schema);
  }
}

function validateLegacyMatch(node: Extract<Node, { kind: 'match' }>, schema: TypedSchema): void {
  let pattern = '';
  node.selector.forEach((part, index) => {
    const next = schema.child(pattern, part);
    if (next === undefined) throw new FilterError(`Selector ${goSelector(node.selector.slice(0, index + 1))} is not valid`);
    pattern = next;
  });
  const type = schema.typeOf(pattern) as FieldType;
  if (!LEGACY_OPERATORS[type].includes(node.operator)) {
    throw new FilterError(`Invalid match operator ${JSON.stringify(OPERATOR_NAMES[node.operator])} for selector ${goSelector(node.selector)}`);
  }
  const value = node.value ?? '';
  if (type === 'int' && !/^[-+]?\d+$/.test(value)) {
    throw new FilterError(`Failed to coerce value ${JSON.stringify(value)} for selector ${goSelector(node.selector)}: strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`);
  }
  if (type === 'bool' && parseGoBool(value) === undefined) {
    throw new FilterError(`Failed to coerce value ${JSON.stringify(value)} for selector ${goSelector(node.selector)}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
  }
}

function matchLegacy(node: Extract<Node, { kind: 'match' }>, datum: unknown, schema: TypedSchema): boolean {
  const walk = (value: unknown, depth: number, pattern: string, element: boolean): boolean => {
    const type = element ? 'struct' : (schema.typeOf(pattern) as FieldType);
    if (depth >= node.selector.length) return applyLegacy(node, value, type);
    const part = node.selector[depth] as string;
    if (type === 'structs') {
      // "operations on slices are implicitly ANY operations" (evaluateMatchExpressionRecurse)
      return asArray(value).some((item) => walk(item, depth, pattern, true));
    }
    if (type === 'map') {
      const map = asObject(value);
      if (!Object.hasOwn(map, part)) return node.operator === '!=' || node.operator === 'not in' || node.operator === 'is empty' || node.operator === 'not matches';
      return walk(map[part], depth + 1, schema.child(pattern, part) as string, false);
    }
    return walk(asObject(value)[part], depth + 1, schema.child(pattern, part) as string, false);
  };
  return walk(datum, 0, '', false);
}

function applyLegacy(node: Extract<Node, { kind: 'match' }>, value: unknown, type: FieldType): boolean {
  const literal = node.value ?? '';
  switch (node.operator) {
    case '==':
    case '!=': {
      const equal = type === 'int' ? Number(value ?? 0) === Number(literal) : type === 'bool' ? (value ?? false) === parseGoBool(literal) : text(value) === literal;
      return node.operator === '==' ? equal : !equal;
    }
    case 'in':
    case 'not in': {
      const found =
        type === 'map' ? Object.hasOwn(asObject(value), literal) : type === 'strings' ? asArray(value).includes(literal) : text(value).includes(literal);
      return node.operator === 'in' ? found : !found;
    }
    case 'is empty':
    case 'is not empty': {
      const empty = (type === 'map' ? Object.keys(asObject(value)).length : asArray(value).length) === 0;
      return node.operator === 'is empty' ? empty : !empty;
    }
    case 'matches':
    case 'not matches': {
      const found = new RegExp(literal).test(text(value));
      return node.operator === 'matches' ? found : !found;
    }
  }
}

// --- 0.1.10 and 0.1.12: pointerstructure lookups -------------------------------------------

const NOT_PRESENT = Symbol('not present');

function matchPointer(node: Extract<Node, { kind: 'match' }>, datum: unknown, schema: TypedSchema, version: BexprVersion): boolean {
  const value = lookup(node.selector, datum, schema, version);
  if (value === NOT_PRESENT) {
    // NotPresentDisposition (v0.1.12): nothing equals, is in, or matches a missing key.
    return node.operator === '!=' || node.operator === 'not in' || node.operator === 'is empty' || node.operator === 'not matches';
  }
  const literal = node.value ?? '';
  switch (node.operator) {
    case '==':
    case '!=': {
      const equal = primitiveEquals(value, literal);
      return node.operator === '==' ? equal : !equal;
    }
    case 'in':
    case 'not in': {
      let found: boolean;
      if (Array.isArray(value)) found = value.some((item) => primitiveEquals(item, literal));
      else if (typeof value === 'string') found = value.includes(literal);
      else if (typeof value === 'object' && value !== null) found = Object.hasOwn(value, literal);
      else throw new FilterEvaluationError(`cannot perform in/contains operations on type ${goKind(value)} for selector: ${JSON.stringify(node.selector.join('.'))}`);
      return node.operator === 'in' ? found : !found;
    }
    case 'is empty':
    case 'is not empty': {
      if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) {
        throw new FilterEvaluationError(`cannot perform is-empty operations on type ${goKind(value)} for selector: ${JSON.stringify(node.selector.join('.'))}`);
      }
      const empty = (typeof value === 'string' || Array.isArray(value) ? value.length : Object.keys(value).length) === 0;
      return node.operator === 'is empty' ? empty : !empty;
    }
    case 'matches':
    case 'not matches': {
      if (typeof value !== 'string') throw new FilterEvaluationError(`value of type ${goKind(value)} is not convertible to []byte`);
      const found = new RegExp(literal).test(value);
      return node.operator === 'matches' ? found : !found;
    }
  }
}

/** pointerstructure's `Pointer.Get`, with bexpr's handling of a missing last map key. */
function lookup(path: readonly string[], datum: unknown, schema: TypedSchema, version: BexprVersion): unknown {
  const pointer = `/${path.join('/')}`;
  let value = datum;
  let pattern = '';
  let type: FieldType = 'struct';
  for (const [index, part] of path.entries()) {
    const fail = (problem: string): never => {
      throw new FilterEvaluationError(`error finding value in datum: ${pointer} at part ${index}: ${problem}`);
    };
    if (type === 'struct') {
      const next = schema.child(pattern, part) ?? fail(`couldn't find struct field with name ${JSON.stringify(part)}`);
      pattern = next;
      type = schema.typeOf(pattern) as FieldType;
      value = asObject(value)[part] ?? zeroOf(type);
    } else if (type === 'map') {
      const map = asObject(value);
      if (!Object.hasOwn(map, part)) {
        // v0.1.12 evaluateNotPresent: a missing key whose parent is a map is "not present".
        if (version === '0.1.12' && index === path.length - 1) return NOT_PRESENT;
        fail(`couldn't find key ${JSON.stringify(part)}`);
      }
      pattern = schema.child(pattern, part) as string;
      type = schema.typeOf(pattern) as FieldType;
      value = map[part];
    } else if (type === 'structs' || type === 'strings') {
      if (!/^\d+$/.test(part)) fail(`cannot parse '${part}' as int`);
      const items = asArray(value);
      const at = Number(part);
      if (at >= items.length) fail(`index ${at} is out of range (length = ${items.length})`);
      value = items[at];
      // Elements of a slice of structs have their fields under the slice's path.
      type = type === 'structs' ? 'struct' : 'string';
    } else {
      fail(`invalid kind: ${goKind(value)}`);
    }
  }
  return value;
}

function primitiveEquals(value: unknown, literal: string): boolean {
  if (typeof value === 'string') return value === literal;
  if (typeof value === 'number') {
    if (!/^[-+]?\d+(\.\d+)?$/.test(literal)) throw new FilterEvaluationError(`error getting match value in expression: strconv.ParseInt: parsing ${JSON.stringify(literal)}: invalid syntax`);
    return value === Number(literal);
  }
  if (typeof value === 'boolean') {
    const parsed = parseGoBool(literal);
    if (parsed === undefined) throw new FilterEvaluationError(`error getting match value in expression: strconv.ParseBool: parsing ${JSON.stringify(literal)}: invalid syntax`);
    return value === parsed;
  }
  throw new FilterEvaluationError('unable to find suitable primitive comparison function for matching');
}

function zeroOf(type: FieldType | undefined): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'int':
      return 0;
    case 'bool':
      return false;
    case 'map':
    case 'struct':
      return {};
    default:
      return [];
  }
}

function goKind(value: unknown): string {
  if (Array.isArray(value)) return 'slice';
  if (typeof value === 'object' && value !== null) return 'map';
  if (typeof value === 'number') return 'int';
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'string' ? 'string' : 'invalid';
}

/** A 0.1.2 string field's value (absent fields are Go's zero value). */
function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}
