#!/usr/bin/env node
/**
 * The public surface of every published entry point, as checked-in lists: one export a
 * line, `name: kind`, sorted, in packages/<pkg>/api/<entry>.api.txt. A change of what a
 * package exports then shows in review as a change of these files.
 *
 *   node scripts/api-report.mjs           writes the lists
 *   node scripts/api-report.mjs --check   exits 1, with a diff, when a list is out of date
 *
 * The entry points are read from their TypeScript sources with the compiler's type checker,
 * so `export *` from another package (the adapters re-export @breakwater/core) is expanded.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The published entry points: `package.json` `exports` of each package, by source file. */
export const ENTRY_POINTS = [
  ['core', 'index'],
  ['core', 'adapter'],
  ['core', 'extend'],
  ['express', 'index'],
  ['koa', 'index'],
  ['fastify', 'index'],
  ['hono', 'index'],
  ['http-pool', 'index'],
  ['redis-pool', 'index'],
].map(([pkg, entry]) => ({
  source: join(root, 'packages', pkg, 'src', `${entry}.ts`),
  report: join(root, 'packages', pkg, 'api', `${entry}.api.txt`),
}));

/** The kinds a symbol has, in a fixed order: a const and a type of one name is `const + type`. */
function kinds(symbol, checker) {
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const f = s.flags;
  const out = [];
  if (f & ts.SymbolFlags.Class) out.push('class');
  if (f & ts.SymbolFlags.Function) out.push('function');
  if (f & ts.SymbolFlags.Variable) {
    const decl = s.valueDeclaration;
    const list = decl && ts.isVariableDeclaration(decl) ? decl.parent : undefined;
    const isConst = list !== undefined && (ts.getCombinedNodeFlags(list) & ts.NodeFlags.Const) !== 0;
    out.push(isConst ? 'const' : 'let');
  }
  if (f & ts.SymbolFlags.Enum) out.push('enum');
  if (f & ts.SymbolFlags.Interface) out.push('interface');
  if (f & ts.SymbolFlags.TypeAlias) out.push('type');
  // `export * as x from './x.js'` is a module symbol: a namespace to the importer.
  if (f & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule)) out.push('namespace');
  if (out.length === 0) throw new Error(`${s.name}: no kind for symbol flags ${f}`);
  return out.join(' + ');
}

function compilerOptions() {
  const file = join(root, 'tsconfig.base.json');
  const { config, error } = ts.readConfigFile(file, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const { options, errors } = ts.convertCompilerOptionsFromJson(config.compilerOptions, root);
  if (errors.length > 0) throw new Error(ts.flattenDiagnosticMessageText(errors[0].messageText, '\n'));
  // Reading, not building: no project references, no output.
  return { ...options, composite: false, declaration: false, declarationMap: false, noEmit: true };
}

/** Each entry point's report text, by report path. */
export function reports() {
  const program = ts.createProgram({
    rootNames: ENTRY_POINTS.map((e) => e.source),
    options: compilerOptions(),
  });
  const checker = program.getTypeChecker();
  const out = new Map();
  for (const { source, report } of ENTRY_POINTS) {
    const file = program.getSourceFile(source);
    const moduleSymbol = file && checker.getSymbolAtLocation(file);
    if (!moduleSymbol) throw new Error(`${relative(root, source)}: not a module`);
    const lines = checker
      .getExportsOfModule(moduleSymbol)
      .map((s) => `${s.name}: ${kinds(s, checker)}`)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    out.set(report, `${lines.join('\n')}\n`);
  }
  return out;
}

/** A line diff good enough for sorted lists: what is only in one side. */
function diff(before, after) {
  const a = new Set(before.split('\n').filter(Boolean));
  const b = new Set(after.split('\n').filter(Boolean));
  return [
    ...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`),
    ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`),
  ].join('\n');
}

function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of reports()) {
    const rel = relative(root, file);
    const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (current === text) continue;
    if (check) {
      stale++;
      console.error(`${rel} is out of date:\n${diff(current, text) || '(order or whitespace)'}\n`);
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      console.log(`wrote ${rel} (${text.split('\n').length - 1} exports)`);
    }
  }
  if (stale > 0) {
    console.error(
      `${stale} API list(s) differ from the entry points' exports. If the change of the public API ` +
        'is meant, run `node scripts/api-report.mjs` and commit the lists.',
    );
    process.exitCode = 1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
