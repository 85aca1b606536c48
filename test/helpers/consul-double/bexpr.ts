/**
 * The subset of go-bexpr (Consul's `?filter=` language) the double evaluates: `and`, `or`,
 * `not`, parentheses, `==`, `!=`, `is empty`, `is not empty`, `in`, `not in`, `contains`,
 * `not contains`, `matches`, `not matches`, on selectors an endpoint declares. Like go-bexpr, a
 * selector the endpoint's type does not have fails when the filter is created, and a missing
 * map key is "not present": false for `==`, `in`, `matches`; true for `!=`, `is empty`, `not ...`.
 * Selectors over lists of structs (`Checks.Status`) are not supported by the double.
 */

export class FilterError extends Error {}

type Operator = '==' | '!=' | 'is empty' | 'is not empty' | 'in' | 'not in' | 'contains' | 'not contains' | 'matches' | 'not matches';

type Node =
  | { readonly kind: 'and' | 'or'; readonly left: Node; readonly right: Node }
  | { readonly kind: 'not'; readonly operand: Node }
  | { readonly kind: 'match'; readonly selector: readonly string[]; readonly operator: Operator; readonly value: string | undefined };

/**
 * Valid selectors of one endpoint: dotted paths, where `*` stands for any key of a map field.
 * @example ['Service.ID', 'Service.Tags', 'Service.Meta.*']
 */
export type SelectorSchema = readonly string[];

export interface Filter {
  matches(datum: unknown): boolean;
}

const NOT_PRESENT = Symbol('not present');

/** Parses `expression`, checking selectors against `schema`; throws {@link FilterError} like go-bexpr's CreateEvaluator. */
export function createFilter(expression: string, schema: SelectorSchema): Filter {
  const tokens = tokenize(expression);
  const parser = new Parser(tokens, schema);
  const ast = parser.parseOr();
  if (parser.position < tokens.length) throw new FilterError(`1:${parser.position + 1}: unexpected token ${JSON.stringify(tokens[parser.position]?.text)}`);
  return { matches: (datum) => evaluate(ast, datum) };
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
      let j = i + 1;
      let text = '';
      while (j < expression.length && expression[j] !== char) {
        if (char === '"' && expression[j] === '\\' && j + 1 < expression.length) j++;
        text += expression[j];
        j++;
      }
      if (j >= expression.length) throw new FilterError(`1:${i + 1}: unterminated string literal`);
      tokens.push({ text, kind: 'string' });
      i = j + 1;
    } else if (char === '(' || char === ')') {
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

class Parser {
  position = 0;
  readonly #tokens: readonly Token[];
  readonly #schema: SelectorSchema;

  constructor(tokens: readonly Token[], schema: SelectorSchema) {
    this.#tokens = tokens;
    this.#schema = schema;
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
    const first = this.#next('a selector or value');
    const second = this.#tokens[this.position];
    // `<value> in <selector>` and `<value> not in <selector>`
    if (second?.kind === 'word' && (second.text === 'in' || (second.text === 'not' && this.#tokens[this.position + 1]?.text === 'in'))) {
      this.position += second.text === 'in' ? 1 : 2;
      const selector = this.#selector(this.#next('a selector'));
      return { kind: 'match', selector, operator: second.text === 'in' ? 'in' : 'not in', value: first.text };
    }
    const selector = this.#selector(first);
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
      }
      return { kind: 'match', selector, operator: `${negated ? 'not ' : ''}${word}` as Operator, value };
    }
    throw new FilterError(`1:${this.position}: no match found, expected an operator, got ${JSON.stringify(operator.text)}`);
  }

  #selector(token: Token): string[] {
    if (token.kind !== 'word' || !/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/.test(token.text)) {
      throw new FilterError(`1:${this.position}: expected a selector, got ${JSON.stringify(token.text)}`);
    }
    const path = token.text.split('.');
    const valid = this.#schema.some((pattern) => {
      const parts = pattern.split('.');
      return parts.length === path.length && parts.every((part, index) => part === '*' || part === path[index]);
    });
    if (!valid) throw new FilterError(`Selector ${JSON.stringify(path)} is not valid`);
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

function evaluate(node: Node, datum: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, datum) && evaluate(node.right, datum);
    case 'or':
      return evaluate(node.left, datum) || evaluate(node.right, datum);
    case 'not':
      return !evaluate(node.operand, datum);
    case 'match':
      return match(node.operator, lookup(datum, node.selector), node.value ?? '');
  }
}

function lookup(datum: unknown, path: readonly string[]): unknown {
  let current = datum;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, part)) return NOT_PRESENT;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function match(operator: Operator, value: unknown, literal: string): boolean {
  if (value === NOT_PRESENT || value === undefined || value === null) {
    return operator === '!=' || operator === 'is empty' || operator.startsWith('not ');
  }
  switch (operator) {
    case '==':
      return equals(value, literal);
    case '!=':
      return !equals(value, literal);
    case 'is empty':
      return sizeOf(value) === 0;
    case 'is not empty':
      return sizeOf(value) !== 0;
    case 'in':
    case 'contains':
      return contains(value, literal);
    case 'not in':
    case 'not contains':
      return !contains(value, literal);
    case 'matches':
      return typeof value === 'string' && new RegExp(literal).test(value);
    case 'not matches':
      return typeof value === 'string' && !new RegExp(literal).test(value);
  }
}

function equals(value: unknown, literal: string): boolean {
  if (typeof value === 'string') return value === literal;
  if (typeof value === 'number') return value === Number(literal);
  if (typeof value === 'boolean') return String(value) === literal;
  throw new FilterError('unable to find suitable primitive comparison function for matching');
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length;
  throw new FilterError('unable to determine the length of a non-collection value');
}

function contains(value: unknown, literal: string): boolean {
  if (typeof value === 'string') return value.includes(literal);
  if (Array.isArray(value)) return value.some((item) => String(item) === literal);
  if (typeof value === 'object' && value !== null) return Object.hasOwn(value, literal);
  throw new FilterError('Cannot perform in/contains operations on this selector');
}
