import { ConfigError } from '../errors.js';

/**
 * Finds the value registered for a request's method and path among route patterns in the
 * frameworks' syntax: static segments, `:param` segments, and a trailing `*` or `*name`
 * (Express 5 `/*splat`, Koa `/(.*)` are normalised to it). Keys are `'GET /a/:id'`, or a
 * bare pattern for any method. Matching walks the path once, with no regex and no split:
 * static beats param beats wildcard, and a method beats "any method".
 */
export class RouteTable<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `'METHOD /pattern'` or `'/pattern'` or `'*'`; a key listed twice throws. */
  add(key: string, value: T, path = 'routes'): void {
    const { method, pattern } = parseRouteKey(key, path);
    let added = false;
    this.getOrAdd(method, pattern, () => {
      added = true;
      return value;
    });
    if (!added) throw new ConfigError(`${path}['${key}']`, key, 'a route not already listed');
  }

  /** The value at exactly this method (undefined: any method) and pattern, if any. */
  get(method: string | undefined, pattern: string): T | undefined {
    const node = this.nodeFor(pattern, false);
    if (node === undefined) return undefined;
    return method === undefined ? node.any : node.methods?.get(method);
  }

  /** The value at exactly this method and pattern, created by `create` if absent. */
  getOrAdd(method: string | undefined, pattern: string, create: () => T): T {
    const node = this.nodeFor(pattern, true)!;
    if (method === undefined) {
      if (node.any === undefined) {
        node.any = create();
        this.count++;
      }
      return node.any;
    }
    node.methods ??= new Map();
    let v = node.methods.get(method);
    if (v === undefined) {
      node.methods.set(method, (v = create()));
      this.count++;
    }
    return v;
  }

  private nodeFor(pattern: string, create: boolean): TrieNode<T> | undefined {
    let node = this.root;
    const segments = pattern === '*' ? ['*'] : pattern.split('/').filter((x) => x.length > 0);
    for (const raw of segments) {
      const seg = raw.endsWith('(.*)') ? '*' : raw;
      let next: TrieNode<T> | undefined;
      if (seg.startsWith('*'))
        next = node.wildcard ?? (create ? (node.wildcard = new TrieNode<T>()) : undefined);
      else if (seg.startsWith(':'))
        next = node.param ?? (create ? (node.param = new TrieNode<T>()) : undefined);
      else {
        next = node.statics.get(seg);
        if (next === undefined && create) node.statics.set(seg, (next = new TrieNode<T>()));
      }
      if (next === undefined) return undefined;
      node = next;
      if (seg.startsWith('*')) break;
    }
    return node;
  }

  match(method: string, path: string): T | undefined {
    const end = path.indexOf('?');
    return matchFrom(this.root, method, path, 1, end === -1 ? path.length : end);
  }

  /** Every value in the table, in no particular order (a reconfiguration walks them; requests never do). */
  *values(): IterableIterator<T> {
    const stack: TrieNode<T>[] = [this.root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.any !== undefined) yield node.any;
      if (node.methods) yield* node.methods.values();
      stack.push(...node.statics.values());
      if (node.param) stack.push(node.param);
      if (node.wildcard) stack.push(node.wildcard);
    }
  }
}

class TrieNode<T> {
  statics = new Map<string, TrieNode<T>>();
  param: TrieNode<T> | undefined;
  wildcard: TrieNode<T> | undefined;
  methods: Map<string, T> | undefined;
  any: T | undefined;
}

function valueAt<T>(node: TrieNode<T>, method: string): T | undefined {
  return node.methods?.get(method) ?? (method === 'HEAD' ? node.methods?.get('GET') : undefined) ?? node.any;
}

function matchFrom<T>(
  node: TrieNode<T>,
  method: string,
  path: string,
  start: number,
  end: number,
): T | undefined {
  if (start >= end)
    return valueAt(node, method) ?? (node.wildcard ? valueAt(node.wildcard, method) : undefined);
  let slash = path.indexOf('/', start);
  if (slash === -1 || slash > end) slash = end;
  if (node.statics.size > 0) {
    const next = node.statics.get(path.slice(start, slash));
    if (next) {
      const v = matchFrom(next, method, path, slash + 1, end);
      if (v !== undefined) return v;
    }
  }
  if (node.param && slash > start) {
    const v = matchFrom(node.param, method, path, slash + 1, end);
    if (v !== undefined) return v;
  }
  return node.wildcard ? valueAt(node.wildcard, method) : undefined;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'ALL']);

/** Splits `'GET /a'` into method and pattern; `'/a'` and `'*'` mean any method. */
export function parseRouteKey(key: string, path = 'routes'): { method: string | undefined; pattern: string } {
  const k = key.trim();
  const sp = k.indexOf(' ');
  let method: string | undefined;
  let pattern = k;
  if (sp !== -1) {
    method = k.slice(0, sp).toUpperCase();
    pattern = k.slice(sp + 1).trim();
    if (!METHODS.has(method))
      throw new ConfigError(`${path}['${key}']`, key, "a key like 'GET /path' or '/path'");
    if (method === 'ALL') method = undefined;
  }
  if (pattern !== '*' && !pattern.startsWith('/'))
    throw new ConfigError(`${path}['${key}']`, key, "a key like 'GET /path' or '/path'");
  return { method, pattern };
}
