import { RISK_LEVELS, type BacktestReport, type Rate } from '@risk/domain';

/** Columns padded to their widest cell: numbers right-aligned, text left-aligned. */
function table(rows: readonly (readonly string[])[], numeric: readonly boolean[]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (numeric[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd(),
  );
}

const count = (n: number): string => n.toLocaleString('en-US');
const percent = (rate: Rate | undefined): string => (rate === null || rate === undefined ? '-' : `${(rate * 100).toFixed(2)} %`);
const change = (before: number, after: number): string =>
  after === before ? '0' : after > before ? `+${count(after - before)}` : `-${count(before - after)}`;

/** The report as a terminal reads it: fixed-width columns, rules by id, users by added alerts. */
export function formatBacktest(report: BacktestReport): string {
  const out: string[] = [];
  const side = (s: BacktestReport['baseline']): string => (s.rules_version > 0 ? `version ${s.rules_version}` : s.source);
  out.push(
    `backtest: baseline ${side(report.baseline)} against candidate ${side(report.candidate)}; ` +
      `${count(report.evaluated)} events decided by both; alert threshold ${report.alert_threshold}`,
    '',
  );

  out.push('hits per rule');
  out.push(
    ...table(
      [
        ['rule', 'baseline', 'hits', 'candidate', 'hits', 'change', 'gained', 'lost'],
        ...report.rules.map((r) => [
          r.id,
          r.baseline.status,
          count(r.baseline.hits),
          r.candidate.status,
          count(r.candidate.hits),
          change(r.baseline.hits, r.candidate.hits),
          count(r.gained),
          count(r.lost),
        ]),
      ],
      [false, false, true, false, true, true, true, true],
    ).map((line) => `  ${line}`),
    '',
  );

  const { matrix } = report.risk_levels;
  out.push(`risk level: ${count(report.risk_levels.changed)} verdicts changed (rows: baseline, columns: candidate)`);
  out.push(
    ...table(
      [['', ...RISK_LEVELS], ...RISK_LEVELS.map((from) => [from, ...RISK_LEVELS.map((to) => count(matrix[from][to]))])],
      [false, true, true, true],
    ).map((line) => `  ${line}`),
    '',
  );

  const { alerts } = report;
  const sideAlerts = (a: BacktestReport['alerts']['baseline']): string =>
    `${count(a.alerts)} (${percent(a.alert_rate)}${a.suppressed > 0 ? `; ${count(a.suppressed)} more suppressed by cooldowns` : ''})`;
  out.push(
    `alerts: baseline ${sideAlerts(alerts.baseline)}, candidate ${sideAlerts(alerts.candidate)}; ` +
      `added ${count(alerts.added)}, removed ${count(alerts.removed)}`,
  );
  if (alerts.top_users_by_added.length > 0) {
    out.push('top users by added alerts');
    out.push(
      ...table([['user', 'added'], ...alerts.top_users_by_added.map((u) => [u.user_id, count(u.added)])], [false, true]).map(
        (line) => `  ${line}`,
      ),
    );
  }

  const labels = report.labels;
  if (labels !== undefined) {
    out.push(
      '',
      `labels: ${count(labels.labels)} event ids (${count(labels.duplicate_labels)} labelled more than once, ` +
        `${count(labels.unknown_event_ids)} not among the decided events); ` +
        `${count(labels.fraud_events)} fraud, ${count(labels.legit_events)} legit, ${count(labels.unlabelled_events)} unlabelled events`,
    );
    const row = (name: string, b: LabelFigures, c: LabelFigures): string[] => [
      name,
      percent(b.precision),
      percent(c.precision),
      percent(b.recall),
      percent(c.recall),
      percent(b.rate),
      percent(c.rate),
    ];
    out.push(
      ...table(
        [
          ['', 'precision', '', 'recall', '', 'alert rate', ''],
          ['', 'baseline', 'candidate', 'baseline', 'candidate', 'baseline', 'candidate'],
          ...report.rules.map((r) =>
            row(
              r.id,
              { precision: r.baseline.precision, recall: r.baseline.recall, rate: r.baseline.hit_rate },
              { precision: r.candidate.precision, recall: r.candidate.recall, rate: r.candidate.hit_rate },
            ),
          ),
          row(
            'overall (alerts)',
            { precision: alerts.baseline.precision, recall: alerts.baseline.recall, rate: alerts.baseline.alert_rate },
            { precision: alerts.candidate.precision, recall: alerts.candidate.recall, rate: alerts.candidate.alert_rate },
          ),
        ],
        [false, true, true, true, true, true, true],
      ).map((line) => `  ${line}`),
    );
  }
  return out.join('\n') + '\n';
}

interface LabelFigures {
  readonly precision: Rate | undefined;
  readonly recall: Rate | undefined;
  readonly rate: number;
}
