/**
 * The layering you can see in the folders, checked:
 *   common  ← record ← storage
 *   common  ← coordinator   (reaches storage only through its own interface)
 *   common, record, protocol ← client ← cli
 *   server composes storage, coordinator and protocol; cli may start a server.
 * And no import cycles anywhere in src/.
 */
import path from 'path';
import madge from 'madge';

const SRC = path.resolve(__dirname, '..', 'src');

/** For each area, the areas it may import from (besides itself). */
const ALLOWED: Record<string, string[]> = {
  common: [],
  record: ['common'],
  storage: ['common', 'record'],
  coordinator: ['common'],
  protocol: ['common'],
  client: ['common', 'record', 'protocol'],
  server: ['common', 'record', 'storage', 'coordinator', 'protocol'],
  cli: ['common', 'record', 'protocol', 'client', 'server'],
};

function areaOf(file: string): string {
  return file.split(/[\\/]/)[0];
}

describe('source layering', () => {
  let graph: Record<string, string[]>;

  beforeAll(async () => {
    const result = await madge(SRC, {
      fileExtensions: ['ts'],
      tsConfig: path.resolve(__dirname, '..', 'tsconfig.json'),
      detectiveOptions: { ts: { skipTypeImports: false } },
    });
    graph = result.obj();
    (globalThis as { __brookCycles?: string[][] }).__brookCycles = result.circular();
  });

  it('finds the source tree', () => {
    expect(Object.keys(graph).length).toBeGreaterThan(0);
  });

  it('has no import cycles', () => {
    const cycles = (globalThis as { __brookCycles?: string[][] }).__brookCycles ?? [];
    expect(cycles).toEqual([]);
  });

  it('imports only across allowed layers', () => {
    const violations: string[] = [];
    for (const [file, deps] of Object.entries(graph)) {
      const from = areaOf(file);
      const allowed = ALLOWED[from];
      if (!allowed) {
        violations.push(`${file}: area "${from}" is not in the layering table`);
        continue;
      }
      for (const dep of deps) {
        const to = areaOf(dep);
        if (to !== from && !allowed.includes(to)) violations.push(`${file} imports ${dep} (${from} → ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });
});
