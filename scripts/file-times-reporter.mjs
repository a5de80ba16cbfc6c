// A node:test reporter that prints, after the run, the wall time of each test
// file (hooks and server start-ups included, which the spec reporter's suite
// durations leave out), slowest first: where the CI time budget goes. Each
// file is one top-level test of the runner: it starts at its `test:dequeue`
// and ends at its `test:complete`.
export default async function* fileTimes(source) {
  const started = new Map();
  const times = new Map();
  for await (const event of source) {
    const { name, file } = event.data ?? {};
    if (file === undefined || name !== file) continue;
    if (event.type === 'test:dequeue') started.set(file, performance.now());
    else if (event.type === 'test:complete' && started.has(file)) times.set(file, performance.now() - started.get(file));
  }
  const rows = [...times].sort((a, b) => b[1] - a[1]).slice(0, 15);
  const total = [...times.values()].reduce((sum, ms) => sum + ms, 0);
  yield `\nslowest test files (of ${times.size}, ${(total / 1000).toFixed(0)} s in all):\n`;
  for (const [file, ms] of rows) yield `${(ms / 1000).toFixed(1).padStart(7)} s  ${file.replace(/^.*?\/(apps|libs|test)\//, '$1/')}\n`;
}
