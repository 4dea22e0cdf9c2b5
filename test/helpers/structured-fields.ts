/**
 * A strict reader for RFC 9651 Structured Field lists (the shape of draft-10's `RateLimit`
 * and `RateLimit-Policy`) and dictionaries (draft-7's `RateLimit`), for tests. It throws on
 * anything the RFC's parsing algorithm would fail on, so a test using it proves a header
 * is well formed, not only that a regex found digits in it.
 */
export type BareItem = number | string | boolean | { token: string };
export interface Item {
  value: BareItem;
  params: Record<string, BareItem>;
}

class Reader {
  pos = 0;
  constructor(readonly s: string) {}
  fail(what: string): never {
    throw new SyntaxError(`structured field: ${what} at ${this.pos} in ${JSON.stringify(this.s)}`);
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  sp(): void {
    while (this.peek() === ' ') this.pos++;
  }
  ows(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  done(): boolean {
    return this.pos >= this.s.length;
  }
  key(): string {
    const first = this.peek();
    if (!/[a-z*]/.test(first)) this.fail('key');
    let k = '';
    while (/[a-z0-9_\-.*]/.test(this.peek())) k += this.s[this.pos++];
    return k;
  }
  bare(): BareItem {
    const c = this.peek();
    if (c === '-' || /[0-9]/.test(c)) return this.number();
    if (c === '"') return this.string();
    if (c === '?') {
      this.pos++;
      const b = this.s[this.pos++];
      if (b !== '0' && b !== '1') this.fail('boolean');
      return b === '1';
    }
    if (/[A-Za-z*]/.test(c)) {
      let t = '';
      while (/[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/.test(this.peek())) t += this.s[this.pos++];
      return { token: t };
    }
    return this.fail('bare item');
  }
  number(): number {
    const m = /^-?[0-9]{1,15}(\.[0-9]{1,3})?/.exec(this.s.slice(this.pos));
    if (m === null) this.fail('number');
    const text = m[0];
    if (!text.includes('.') && text.replace('-', '').length > 15) this.fail('integer too long');
    this.pos += text.length;
    return Number(text);
  }
  string(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.s[this.pos++];
      if (c === undefined) this.fail('unterminated string');
      if (c === '\\') {
        const n = this.s[this.pos++];
        if (n !== '"' && n !== '\\') this.fail('escape');
        out += n;
      } else if (c === '"') return out;
      else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) this.fail('string character');
        out += c;
      }
    }
  }
  params(): Record<string, BareItem> {
    const p: Record<string, BareItem> = {};
    while (this.peek() === ';') {
      this.pos++;
      this.sp();
      const k = this.key();
      let v: BareItem = true;
      if (this.peek() === '=') {
        this.pos++;
        v = this.bare();
      }
      p[k] = v;
    }
    return p;
  }
  item(): Item {
    const value = this.bare();
    return { value, params: this.params() };
  }
}

/** Parses a Structured Field list of items (inner lists are not needed here and rejected). */
export function parseList(header: string | undefined): Item[] {
  if (header === undefined) throw new SyntaxError('structured field: header absent');
  const r = new Reader(header);
  r.sp();
  const out: Item[] = [];
  while (!r.done()) {
    if (r.peek() === '(') r.fail('inner list');
    out.push(r.item());
    r.ows();
    if (r.done()) break;
    if (r.peek() !== ',') r.fail('expected ","');
    r.pos++;
    r.ows();
    if (r.done()) r.fail('trailing comma');
  }
  return out;
}

/** Parses a Structured Field dictionary. */
export function parseDictionary(header: string | undefined): Map<string, Item> {
  if (header === undefined) throw new SyntaxError('structured field: header absent');
  const r = new Reader(header);
  r.sp();
  const out = new Map<string, Item>();
  while (!r.done()) {
    const k = r.key();
    let item: Item;
    if (r.peek() === '=') {
      r.pos++;
      item = r.item();
    } else item = { value: true, params: r.params() };
    out.set(k, item);
    r.ows();
    if (r.done()) break;
    if (r.peek() !== ',') r.fail('expected ","');
    r.pos++;
    r.ows();
    if (r.done()) r.fail('trailing comma');
  }
  return out;
}

/** draft-10 `RateLimit-Policy` and `RateLimit` read into one record per policy name. */
export function readDraft10(policy: string | undefined, limit: string | undefined) {
  const policies = new Map<string, { q: number; w: number }>();
  for (const it of parseList(policy)) {
    if (typeof it.value !== 'string') throw new SyntaxError('policy name is not a string');
    const { q, w } = it.params;
    if (typeof q !== 'number' || !Number.isInteger(q) || typeof w !== 'number' || !Number.isInteger(w))
      throw new SyntaxError('q and w must be integers');
    policies.set(it.value, { q, w });
  }
  const limits = new Map<string, { r: number; t: number }>();
  for (const it of parseList(limit)) {
    if (typeof it.value !== 'string') throw new SyntaxError('policy name is not a string');
    const { r, t } = it.params;
    if (typeof r !== 'number' || !Number.isInteger(r) || typeof t !== 'number' || !Number.isInteger(t))
      throw new SyntaxError('r and t must be integers');
    limits.set(it.value, { r, t });
  }
  return { policies, limits };
}
