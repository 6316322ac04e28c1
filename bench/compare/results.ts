/**
 * The comparison's results: one cell per (row, durability level, column),
 * each row's ceiling, and the ratios Brook ÷ best peer and Brook ÷ ceiling.
 * Rows and columns always come out in the order of ROWS and COLUMNS, so two
 * runs' tables can be compared line by line.
 */
import type { Ceilings } from './ceilings';
import { COLUMNS, COLUMN_LABELS, PEER_COLUMNS, type Column, type Durability } from './workload';

export const ROWS = [
  { id: 'w1-1p', label: 'W1 produce, 1 partition', unit: 'rec/s', better: 'higher' },
  { id: 'w1-8p', label: 'W1 produce, 8 partitions, 4 producers', unit: 'rec/s', better: 'higher' },
  { id: 'w2', label: 'W2 consume W1 from the start', unit: 'rec/s', better: 'higher' },
  { id: 'w3-p50', label: 'W3 produce 1 record, p50', unit: 'µs', better: 'lower' },
  { id: 'w3-p99', label: 'W3 produce 1 record, p99', unit: 'µs', better: 'lower' },
  { id: 'w3-p999', label: 'W3 produce 1 record, p99.9', unit: 'µs', better: 'lower' },
  { id: 'w4-p50', label: 'W4 end-to-end at 20k rec/s, p50', unit: 'µs', better: 'lower' },
  { id: 'w4-p99', label: 'W4 end-to-end at 20k rec/s, p99', unit: 'µs', better: 'lower' },
  { id: 'w5', label: 'W5 group of 4 on 8 partitions', unit: 'rec/s', better: 'higher' },
] as const;
export type RowId = (typeof ROWS)[number]['id'];
export type Row = (typeof ROWS)[number];

export interface Cell {
  value: number | null;
  /** Every run's figure when the value is a median. */
  runs?: number[];
  error?: string;
  /** Anything a reader must know about this figure (e.g. time-capped). */
  note?: string;
  /** Set when the figure is not at the level's durability (then not a "peer" for the ratio). */
  notAtLevel?: string;
}

export interface CeilingRef {
  label: string;
  /** What the SDK figure is held against. */
  sdk: number | null;
  /** What the records-form figure is held against (the matching no-op RPC). */
  records: number | null;
}

export interface LevelResult {
  level: Durability;
  /** Per system: how this level was configured. */
  settings: Record<string, string>;
  cells: Record<string, Partial<Record<Column, Cell>>>;
}

export interface Results {
  meta: {
    startedAt: string;
    durationS: number;
    profile: string;
    machine: string;
    command: string;
    versions: Record<string, string>;
    clients: Partial<Record<Column, string>>;
    sizes: Record<string, number>;
    notes: string[];
  };
  ceilings: Ceilings | null;
  levels: LevelResult[];
}

export function ceilingFor(row: RowId, level: Durability, c: Ceilings | null): CeilingRef {
  if (!c) return { label: 'not measured', sdk: null, records: null };
  const fsync = level === 'fsync';
  switch (row) {
    case 'w1-1p':
    case 'w1-8p': {
      const disk = fsync ? c.fsAppendFsync : c.fsAppendBuffered;
      const rpc = c.rpcProduceBytes.recordsPerSec;
      return {
        label: `min(fs append${fsync ? ' + fdatasync/batch' : ''}, no-op RPC bytes form); records: no-op RPC records form`,
        sdk: Math.min(disk, rpc),
        records: c.rpcProduceRecords.recordsPerSec,
      };
    }
    case 'w2':
    case 'w5':
      return c.rpcStreamBytes
        ? { label: 'no-op raw Subscribe stream of the same bytes (the SDK reader streams)', sdk: c.rpcStreamBytes.recordsPerSec, records: null }
        : { label: 'no-op Fetch RPC returning the same bytes', sdk: c.rpcFetchBytes.recordsPerSec, records: null };
    case 'w3-p50':
    case 'w4-p50':
      return {
        label: fsync ? 'fdatasync p50 + no-op 1-record RPC p50' : 'no-op 1-record RPC p50',
        sdk: (fsync ? c.fdatasync.p50Us : 0) + c.rpcProduceOne.p50Us,
        records: (fsync ? c.fdatasync.p50Us : 0) + c.rpcProduceOne.p50Us,
      };
    case 'w3-p99':
    case 'w4-p99':
      return {
        label: fsync ? 'fdatasync p99 + no-op 1-record RPC p99' : 'no-op 1-record RPC p99',
        sdk: (fsync ? c.fdatasync.p99Us : 0) + c.rpcProduceOne.p99Us,
        records: (fsync ? c.fdatasync.p99Us : 0) + c.rpcProduceOne.p99Us,
      };
    case 'w3-p999':
      return {
        label: fsync ? 'fdatasync p99.9 + no-op 1-record RPC p99.9' : 'no-op 1-record RPC p99.9',
        sdk: (fsync ? c.fdatasync.p999Us : 0) + c.rpcProduceOne.p999Us,
        records: (fsync ? c.fdatasync.p999Us : 0) + c.rpcProduceOne.p999Us,
      };
  }
}

function valueOf(cell: Cell | undefined): number | null {
  return cell && cell.value !== null && Number.isFinite(cell.value) ? cell.value : null;
}

/** The Brook figure ratios are taken from: the SDK's, or the records form's when the SDK has none. */
export function brookFigure(cells: Partial<Record<Column, Cell>>): { value: number | null; column: Column } {
  const sdk = valueOf(cells['brook-sdk']);
  return sdk !== null ? { value: sdk, column: 'brook-sdk' } : { value: valueOf(cells['brook-grpc']), column: 'brook-grpc' };
}

/** The best peer figure at this level (peers flagged notAtLevel are left out). */
export function bestPeer(row: Row, cells: Partial<Record<Column, Cell>>): { value: number | null; column: Column | null } {
  let best: number | null = null;
  let column: Column | null = null;
  for (const c of PEER_COLUMNS) {
    const cell = cells[c];
    const v = valueOf(cell);
    if (v === null || cell?.notAtLevel) continue;
    if (best === null || (row.better === 'higher' ? v > best : v < best)) {
      best = v;
      column = c;
    }
  }
  return { value: best, column };
}

export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—';
  if (unit === 'µs') return value >= 1e6 ? `${(value / 1e6).toFixed(2)} s` : value >= 10_000 ? `${(value / 1000).toFixed(1)} ms` : value >= 1000 ? `${(value / 1000).toFixed(2)} ms` : `${Math.round(value)} µs`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

function ratio(a: number | null, b: number | null): string {
  return a === null || b === null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`;
}

const LEVEL_TITLES: Record<Durability, string> = {
  fsync: 'fsync before acknowledging',
  buffered: 'OS-buffered',
};

export function levelTitle(level: Durability): string {
  return LEVEL_TITLES[level];
}

export function markdownTable(results: Results): string {
  const out: string[] = [];
  const { meta } = results;
  out.push(`# Brook vs Redis Streams vs NATS JetStream`);
  out.push('');
  out.push(`${meta.startedAt} · profile \`${meta.profile}\` · ${meta.machine} · \`${meta.command}\` · ${Math.round(meta.durationS)} s`);
  out.push('');
  out.push(`Versions: ${Object.entries(meta.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  out.push('');
  out.push('Clients: ' + COLUMNS.filter((c) => meta.clients[c]).map((c) => `**${COLUMN_LABELS[c]}** = ${meta.clients[c]}`).join('; ') + '.');
  out.push('');
  out.push(
    'Rates are records/s of 100-byte records (higher is better); latencies in µs/ms (lower is better). ' +
      '"Brook ÷ peer" divides Brook (SDK; the records form where the SDK has no figure) by the best peer at the same durability: ' +
      'above 1× is Brook ahead for rates, below 1× is Brook ahead for latencies. "÷ ceiling" divides by what the machine allows without a broker.',
  );
  for (const level of results.levels) {
    out.push('');
    out.push(`## ${levelTitle(level.level)}`);
    out.push('');
    out.push(Object.entries(level.settings).map(([k, v]) => `${k}: ${v}`).join(' · '));
    out.push('');
    const header = ['Workload', ...COLUMNS.map((c) => COLUMN_LABELS[c]), 'Brook ÷ best peer', 'Ceiling', 'SDK ÷ ceiling', 'records ÷ RPC ceiling'];
    out.push(`| ${header.join(' | ')} |`);
    out.push(`|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const row of ROWS) {
      const cells = level.cells[row.id] ?? {};
      const figures = COLUMNS.map((c) => {
        const cell = cells[c];
        if (!cell) return '';
        if (cell.error) return 'error';
        return formatValue(cell.value, row.unit) + (cell.notAtLevel ? ' †' : '') + (cell.note ? ' ‡' : '');
      });
      const brook = brookFigure(cells);
      const peer = bestPeer(row, cells);
      const ceiling = ceilingFor(row.id, level.level, results.ceilings);
      out.push(
        `| ${row.label} | ${figures.join(' | ')} | ${ratio(brook.value, peer.value)} | ${formatValue(ceiling.sdk, row.unit)} | ` +
          `${ratio(valueOf(cells['brook-sdk']), ceiling.sdk)} | ${ratio(valueOf(cells['brook-grpc']), ceiling.records)} |`,
      );
    }
  }
  const flagged = results.levels.flatMap((l) => Object.values(l.cells).flatMap((cells) => Object.values(cells).map((c) => c?.notAtLevel))).filter(Boolean);
  const errors = results.levels.flatMap((l) =>
    Object.entries(l.cells).flatMap(([row, cells]) =>
      Object.entries(cells)
        .filter(([, c]) => c?.error)
        .map(([col, c]) => `${l.level} ${row} ${col}: ${c!.error}`),
    ),
  );
  const capped = results.levels.flatMap((l) =>
    Object.entries(l.cells).flatMap(([row, cells]) =>
      Object.entries(cells)
        .filter(([, c]) => c?.note)
        .map(([col, c]) => `${l.level} ${row} ${col}: ${c!.note}`),
    ),
  );
  out.push('');
  if (capped.length) out.push(`‡ ${capped.join('; ')} (a run stops starting new batches at its time budget; the rate is over what it did).`, '');
  if (flagged.length) out.push(`† not at this durability level: ${[...new Set(flagged)].join('; ')}. Left out of "best peer".`, '');
  out.push('Ceilings (same run):');
  const c = results.ceilings;
  if (c) {
    out.push(`- raw fs append of the same bytes: ${formatValue(c.fsAppendFsync, 'rec/s')} rec/s with fdatasync per 1000-record batch, ${formatValue(c.fsAppendBuffered, 'rec/s')} rec/s buffered`);
    out.push(`- fdatasync after a 100 B write: p50 ${formatValue(c.fdatasync.p50Us, 'µs')}, p99 ${formatValue(c.fdatasync.p99Us, 'µs')}`);
    out.push(
      `- no-op grpc-js Produce, 1000 records form: ${formatValue(c.rpcProduceRecords.callsPerSec, 'calls/s')} calls/s = ${formatValue(c.rpcProduceRecords.recordsPerSec, 'rec/s')} rec/s; ` +
        `one ${Math.round(c.rpcProduceBytes.payloadBytes / 1000)} KB record_batch: ${formatValue(c.rpcProduceBytes.callsPerSec, 'calls/s')} calls/s = ${formatValue(c.rpcProduceBytes.recordsPerSec, 'rec/s')} rec/s`,
    );
    out.push(`- no-op grpc-js Fetch returning ${Math.round(c.rpcFetchBytes.payloadBytes / 1000)} KB raw, one in flight, 4 MiB receive window: ${formatValue(c.rpcFetchBytes.callsPerSec, 'calls/s')} calls/s = ${formatValue(c.rpcFetchBytes.recordsPerSec, 'rec/s')} rec/s`);
    if (c.rpcStreamBytes) {
      out.push(`- no-op grpc-js raw Subscribe pushing the same ${Math.round(c.rpcStreamBytes.payloadBytes / 1000)} KB messages, same window: ${formatValue(c.rpcStreamBytes.callsPerSec, 'calls/s')} messages/s = ${formatValue(c.rpcStreamBytes.recordsPerSec, 'rec/s')} rec/s`);
    }
    out.push(`- no-op 1-record Produce, one in flight: p50 ${formatValue(c.rpcProduceOne.p50Us, 'µs')}, p99 ${formatValue(c.rpcProduceOne.p99Us, 'µs')}, p99.9 ${formatValue(c.rpcProduceOne.p999Us, 'µs')}`);
  } else {
    out.push('- not measured in this run');
  }
  if (meta.notes.length) {
    out.push('', 'Notes:');
    for (const note of meta.notes) out.push(`- ${note}`);
  }
  if (errors.length) {
    out.push('', 'Errors:');
    for (const e of errors) out.push(`- ${e}`);
  }
  return out.join('\n') + '\n';
}
