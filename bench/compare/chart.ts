/**
 * The comparison as one SVG picture, built from plain strings: a panel per
 * durability level, a group of horizontal bars per workload (one bar per
 * client, Brook in blues, Redis in reds, JetStream in green), each group
 * scaled to its own largest figure, the ceiling as a dashed line (or named at
 * the right edge when it is far beyond the bars), and "higher/lower is
 * better" on every group so the reader never has to guess the direction.
 */
import { COLUMNS, COLUMN_LABELS, type Column } from './workload';
import { ROWS, bestPeer, brookFigure, ceilingFor, formatValue, levelTitle, type Results } from './results';

const COLORS: Record<Column, string> = {
  'brook-sdk': '#1f4e9c',
  'brook-grpc': '#7aa6e0',
  'redis-c': '#b8322a',
  'redis-node': '#eb9a8f',
  'nats-node': '#3c8c4a',
};

const WIDTH = 1240;
const PANEL_WIDTH = 590;
const PANEL_GAP = 30;
const LEFT = 15;
const LABEL_WIDTH = 0;
const BAR_HEIGHT = 12;
const BAR_GAP = 2;
const GROUP_TITLE = 18;
const GROUP_GAP = 12;
const VALUE_ROOM = 120;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escape(content)}</text>`;
}

export function renderChart(results: Results): string {
  const columns = COLUMNS.filter((c) => results.levels.some((l) => Object.values(l.cells).some((cells) => cells[c])));
  const groupHeight = GROUP_TITLE + columns.length * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP;
  const top = 92;
  const height = top + ROWS.length * groupHeight + 40;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(LEFT, 24, 'Brook vs Redis Streams vs NATS JetStream — same machine, same run', 'font-size="17" font-weight="bold"'),
    text(LEFT, 42, `${results.meta.startedAt.slice(0, 16).replace('T', ' ')} UTC · ${results.meta.profile} profile · ${results.meta.machine} · 100-byte records`, 'fill="#555"'),
  );
  // Legend.
  let x = LEFT;
  for (const c of columns) {
    parts.push(`<rect x="${x}" y="54" width="12" height="12" fill="${COLORS[c]}"/>`);
    parts.push(text(x + 16, 64, COLUMN_LABELS[c]));
    x += 30 + COLUMN_LABELS[c].length * 6.2;
  }
  parts.push(`<line x1="${x}" y1="60" x2="${x + 22}" y2="60" stroke="#333" stroke-dasharray="4 3"/>`);
  parts.push(text(x + 26, 64, 'ceiling (machine, no broker)'));

  results.levels.forEach((level, panel) => {
    const px = LEFT + panel * (PANEL_WIDTH + PANEL_GAP);
    const barLeft = px + LABEL_WIDTH;
    const barMax = PANEL_WIDTH - LABEL_WIDTH - VALUE_ROOM;
    parts.push(text(px, top - 6, levelTitle(level.level), 'font-size="14" font-weight="bold"'));
    ROWS.forEach((row, g) => {
      const gy = top + g * groupHeight;
      const cells = level.cells[row.id] ?? {};
      const values = columns.map((c) => cells[c]?.value ?? null);
      const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
      const ceiling = ceilingFor(row.id, level.level, results.ceilings).sdk;
      const peak = Math.max(...present, 0);
      // Scale to the bars; take in the ceiling only when it is near them.
      const scale = ceiling !== null && ceiling > peak && ceiling <= peak * 1.6 ? ceiling : peak || 1;
      parts.push(`<rect x="${px - 4}" y="${gy}" width="${PANEL_WIDTH}" height="${groupHeight - GROUP_GAP / 2}" fill="${g % 2 ? '#ffffff' : '#f4f6f9'}"/>`);
      const brook = brookFigure(cells);
      const peer = bestPeer(row, cells);
      // Said the same way for rates and latencies: ahead or behind the best peer, by how much.
      let verdict = '';
      let verdictColor = '#333';
      if (brook.value !== null && peer.value !== null && peer.value > 0 && brook.value > 0) {
        const lead = row.better === 'higher' ? brook.value / peer.value : peer.value / brook.value;
        verdict = lead >= 1 ? `Brook ahead of best peer ${lead.toFixed(2)}×` : `Brook behind best peer ${(1 / lead).toFixed(2)}×`;
        verdictColor = lead >= 1 ? '#1d7a33' : '#b8322a';
      }
      parts.push(
        text(px, gy + 13, row.label, 'font-weight="bold"') +
          text(px + 255, gy + 13, verdict, `fill="${verdictColor}"`) +
          text(px + PANEL_WIDTH - 10, gy + 13, row.better === 'higher' ? 'higher is better →' : '← lower is better', 'text-anchor="end" fill="#666" font-style="italic"'),
      );
      columns.forEach((c, i) => {
        const y = gy + GROUP_TITLE + i * (BAR_HEIGHT + BAR_GAP);
        const cell = cells[c];
        if (!cell) return;
        const v = cell.value;
        if (v === null || !Number.isFinite(v)) {
          parts.push(text(barLeft + 2, y + BAR_HEIGHT - 2, cell.error ? 'error' : '—', 'fill="#999"'));
          return;
        }
        const w = Math.max(1, (v / scale) * barMax);
        const dim = cell.notAtLevel ? ' fill-opacity="0.35"' : '';
        parts.push(`<rect x="${barLeft}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${COLORS[c]}"${dim}/>`);
        parts.push(text(barLeft + w + 4, y + BAR_HEIGHT - 2, formatValue(v, row.unit) + (cell.notAtLevel ? ' † not fsynced' : ''), c.startsWith('brook') ? 'font-weight="bold"' : ''));
      });
      if (ceiling !== null && Number.isFinite(ceiling)) {
        const barsTop = gy + GROUP_TITLE - 2;
        const barsBottom = gy + GROUP_TITLE + columns.length * (BAR_HEIGHT + BAR_GAP);
        if (ceiling <= scale) {
          const cx = barLeft + (ceiling / scale) * barMax;
          parts.push(`<line x1="${cx.toFixed(1)}" y1="${barsTop}" x2="${cx.toFixed(1)}" y2="${barsBottom}" stroke="#333" stroke-dasharray="4 3"/>`);
        } else {
          parts.push(text(px + PANEL_WIDTH - 10, barsBottom - 2, `ceiling ${formatValue(ceiling, row.unit)} (off scale)`, 'text-anchor="end" fill="#333"'));
        }
      }
    });
  });
  parts.push(
    text(LEFT, height - 14, 'Each group is scaled to its own largest bar. † = the peer cannot fsync before acknowledging at this level (figure shown faded). Table and notes: latest.md.', 'fill="#555"'),
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
