import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { CONFIG_VARIABLES } from '@risk/infra/config/engine-config';

const root = process.cwd();
const CONFIG_DIR = join(root, 'libs', 'infra', 'src', 'config');

/** Production sources: what ships in the image (no spec, test or bench file), minus the configuration itself. */
function productionFiles(): string[] {
  const dirs = [
    join(root, 'apps', 'engine', 'src'),
    join(root, 'apps', 'cli', 'src'),
    join(root, 'libs', 'domain', 'src'),
    join(root, 'libs', 'infra', 'src'),
  ];
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  dirs.forEach(walk);
  return files.filter((file) => !file.startsWith(CONFIG_DIR + sep));
}

function compile(files: readonly string[]): ts.Program {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  assert.ok(parsed, 'tsconfig.json parses');
  return ts.createProgram([...files, join(CONFIG_DIR, 'engine-config-types.ts')], { ...parsed.options, noEmit: true, incremental: false });
}

/** The declaration of each EngineConfig field, by its dotted path (`kafka.maxWaitMs`). */
function fieldDeclaration(program: ts.Program, path: string): ts.Declaration {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(join(CONFIG_DIR, 'engine-config-types.ts'));
  assert.ok(source, 'engine-config-types.ts is in the program');
  const engineConfig = source.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'EngineConfig',
  );
  assert.ok(engineConfig, 'engine-config-types.ts declares EngineConfig');
  let type = checker.getTypeAtLocation(engineConfig.name);
  let declaration: ts.Declaration | undefined;
  for (const segment of path.split('.')) {
    const property = type.getProperty(segment);
    declaration = property?.declarations?.[0];
    assert.ok(property && declaration, `EngineConfig has no field ${path}`);
    type = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(property, declaration));
  }
  return declaration!;
}

/**
 * Every property declaration that production code reads: `a.b` and `a?.b`,
 * and destructuring (`const { b } = a`). Resolved by the type checker, so a
 * field is found only through a value of its own type, never by its name.
 */
function readDeclarations(program: ts.Program, files: readonly string[]): Set<ts.Declaration> {
  const checker = program.getTypeChecker();
  const read = new Set<ts.Declaration>();
  const visit = (node: ts.Node): void => {
    let symbol: ts.Symbol | undefined;
    if (ts.isPropertyAccessExpression(node)) symbol = checker.getSymbolAtLocation(node.name);
    else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) {
      const name = node.propertyName ?? node.name;
      if (ts.isIdentifier(name)) symbol = checker.getTypeAtLocation(node.parent).getProperty(name.text);
    }
    for (const declaration of symbol?.declarations ?? []) read.add(declaration);
    ts.forEachChild(node, visit);
  };
  for (const file of files) {
    const source = program.getSourceFile(file);
    assert.ok(source, `${relative(root, file)} is in the program`);
    visit(source);
  }
  return read;
}

describe('configuration: every documented variable is used', () => {
  it('production code outside libs/infra/src/config reads the EngineConfig field of every variable of the table', () => {
    const files = productionFiles();
    const program = compile(files);
    const read = readDeclarations(program, files);
    const unread = CONFIG_VARIABLES.filter((variable) => !read.has(fieldDeclaration(program, variable.field))).map(
      (variable) => `${variable.name} (EngineConfig.${variable.field})`,
    );
    assert.deepEqual(unread, [], `documented and parsed, but nothing reads them: ${unread.join(', ')}`);
  });
});
