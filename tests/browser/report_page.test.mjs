// Drives a rendered attnbench report in headless Chromium as a reader would:
// filter a table, sort a column, hide a chart series from its legend, read the
// answers; check that the table rows drawn from the embedded JSON match it, that the page
// script formats numbers as the C++ side does (format_cases.json), and that a report of a
// database holding markup in its text shows that text as text. Fails on any console error
// or page error.
// Usage: node report_page.test.mjs REPORT.html HOSTILE_REPORT.html [SCREENSHOT.png]
// (HOSTILE_REPORT: a report whose database has one case's message replaced by markup,
// from run_report_page_test.sh.)
// Exits 77 (ctest skip) when playwright-core or Chromium is missing.
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const SKIP = 77;
const chromiumPath = process.env.ATTNBENCH_CHROMIUM || '/usr/bin/chromium';
const [reportPath, hostilePath, screenshotPath] = process.argv.slice(2);
if (!reportPath || !hostilePath) {
  console.error('usage: node report_page.test.mjs REPORT.html HOSTILE_REPORT.html [SCREENSHOT.png]');
  process.exit(2);
}
if (!existsSync(chromiumPath)) {
  console.log(`SKIP: no Chromium at ${chromiumPath}`);
  process.exit(SKIP);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.log('SKIP: playwright-core is not installed (scripts/setup.sh runs npm ci in tests/browser)');
  process.exit(SKIP);
}

const failures = [];
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
const jsErrors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') jsErrors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => jsErrors.push(`page error: ${e.message}`));
  // The page must load nothing from the network.
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) jsErrors.push(`request: ${r.url()}`); });
  await page.goto(pathToFileURL(reportPath).href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });

  // The answers come first and answer in sentences.
  const firstSection = await page.locator('main section').first().getAttribute('id');
  check(firstSection === 'answers', `the first section is #answers (got ${firstSection})`);
  const answers = await page.locator('#answers').innerText();
  for (const s of ['Fastest configuration', 'Best KV method per budget', 'beat the exact kernel',
                   'No baseline given', 'Nothing failed, crashed or timed out'])
    check(answers.includes(s), `answers mention "${s}"`);
  check(/flash:causal|sliding_window|naive:causal|flash/.test(answers), 'answers name a configuration');
  if (screenshotPath) await page.locator('#answers').screenshot({ path: screenshotPath });

  // Every suite table holds one row per case it names in data-case-rows, drawn from the
  // embedded JSON in that order, and all tables together hold every case once.
  const drawn = await page.evaluate(() => {
    const data = JSON.parse(document.getElementById('attnbench-data').textContent);
    const tables = [...document.querySelectorAll('table[data-case-rows]')];
    let rows = 0, mismatches = 0;
    for (const t of tables) {
      const want = [];
      for (const run of t.getAttribute('data-case-rows').split(',')) {
        const [a, b] = run.split('-').map(Number);
        for (let i = a; i <= (b ?? a); i++) want.push(data.cases[i]);
      }
      const trs = [...t.tBodies[0].rows];
      rows += trs.length;
      if (trs.length !== want.length) { mismatches += 1; continue; }
      trs.forEach((tr, k) => {
        const c = want[k], median = c.metrics.time_median ?? c.median_seconds;
        const cellMedian = tr.cells[6] ? tr.cells[6].getAttribute('data-sort') : null;
        if (tr.cells[0].textContent !== c.config || tr.cells[1].textContent !== c.shape ||
            tr.cells[5].querySelector('.badge').textContent !== c.status ||
            (median != null && Number(cellMedian) !== median)) mismatches += 1;
      });
    }
    return { tables: tables.length, rows, cases: data.cases.length, mismatches };
  });
  check(drawn.tables > 0 && drawn.rows === drawn.cases && drawn.mismatches === 0,
        `tables drawn from the JSON: ${JSON.stringify(drawn)}`);
  const formatCases = JSON.parse(readFileSync(new URL('./format_cases.json', import.meta.url))).cases;
  const formatted = await page.evaluate((cases) => cases.map((c) => {
    const f = window.attnbenchFormat;
    const got = c.format === 'si' || c.format === 'metric' ? f[c.format](c.value, c.unit) : f[c.format](c.value);
    return got === c.text ? null : `${c.format}(${c.value}${c.unit ? ', ' + c.unit : ''}) = "${got}", want "${c.text}"`;
  }).filter(Boolean), formatCases);
  check(formatted.length === 0, `page script formats ${formatCases.length} values as the C++ side does ${formatted.join('; ')}`);

  // Filter: type into the suite table's box; only matching rows stay visible.
  const table = page.locator('section.suite table').first();
  const rows = table.locator('tbody tr');
  const total = await rows.count();
  const naiveRows = await rows.filter({ hasText: 'naive:causal' }).count();
  check(total > naiveRows && naiveRows > 0, `suite table has ${total} rows, ${naiveRows} naive:causal`);
  const box = page.locator('section.suite .table-filter').first();
  await box.click();
  await page.keyboard.type('naive causal');
  const visible = await table.locator('tbody tr:visible').allInnerTexts();
  check(visible.length === naiveRows, `filter "naive causal" leaves ${visible.length} rows (want ${naiveRows})`);
  check(visible.every((t) => t.includes('naive:causal')), 'every visible row is naive:causal');
  const countText = await page.locator('section.suite .filter-count').first().innerText();
  check(countText === `${naiveRows} of ${total} rows`, `row count reads "${countText}"`);
  // Copy as CSV takes the visible rows (header + filtered rows).
  await page.locator('section.suite .copy-csv').first().click();
  const copied = await page.locator('section.suite .copy-csv').first().getAttribute('data-copied-rows');
  check(copied === String(naiveRows), `copy as CSV took ${copied} rows`);
  const csv = await table.evaluate((t) => window.attnbenchTableCsv(t));
  const csvLines = csv.trim().split('\n');
  check(csvLines.length === naiveRows + 1 && csvLines[0].startsWith('Config,'), `CSV has a header and ${csvLines.length - 1} rows`);
  await box.fill('');
  check(await table.locator('tbody tr:visible').count() === total, 'clearing the filter shows every row');

  // Sort: click "Median time"; the rows' raw values must ascend, then descend.
  const header = table.locator('thead th', { hasText: 'Median' });
  const medians = async () => table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => {
    const th = [...tr.closest('table').tHead.rows[0].cells].findIndex((c) => c.textContent.includes('Median'));
    const c = tr.cells[th];
    return Number(c.getAttribute('data-sort') ?? c.textContent);
  }).filter((v) => Number.isFinite(v)));
  await header.click();
  let values = await medians();
  check(values.length > 2 && values.every((v, i) => i === 0 || values[i - 1] <= v), `ascending after one click (${values.length} values)`);
  check(await header.getAttribute('aria-sort') === 'ascending', 'header says ascending');
  await header.click();
  values = await medians();
  check(values.every((v, i) => i === 0 || values[i - 1] >= v), 'descending after a second click');
  // Numbers are right-aligned.
  const align = await table.locator('tbody tr').first().locator('td.num').first().evaluate((c) => getComputedStyle(c).textAlign);
  check(align === 'right', `numeric cells are right-aligned (${align})`);

  // Legend: clicking an entry hides its series; clicking again shows it.
  const chart = page.locator('svg#time-chart-0-0');
  const series = chart.locator(':scope > g.series');
  const nSeries = await series.count();
  check(nSeries >= 2, `time chart has ${nSeries} series`);
  await chart.locator('g.legend').first().click();
  check(!(await series.first().isVisible()), 'first series hidden after a legend click');
  check(await series.nth(1).isVisible(), 'second series still visible');
  check(await chart.locator('g.legend').first().getAttribute('aria-pressed') === 'false', 'legend entry marked off');
  await chart.locator('g.legend').first().click();
  check(await series.first().isVisible(), 'first series shown again after a second click');

  // Stable colours: a config's line has the same colour on every chart it appears in.
  const colours = await page.evaluate(() => {
    const seen = {};
    document.querySelectorAll('svg.chart g.legend').forEach((g) => {
      const name = g.querySelector('title').textContent.split(' \u00b7 ')[0].split(' \u2014 ')[0];
      const c = g.querySelector('line,circle,rect,path');
      (seen[name] ??= new Set()).add(c.getAttribute('stroke') !== '#fff' ? c.getAttribute('stroke') : c.getAttribute('fill'));
    });
    return Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...v]]));
  });
  check(Object.values(colours).every((v) => v.length === 1), `one colour per config: ${JSON.stringify(colours)}`);

  check(await page.locator('body').getAttribute('data-js-errors') === '0', 'no window error events');

  // Stored text is shown as text: the hostile report's markup message and status never
  // become elements, and its row shows them verbatim.
  const hostile = await browser.newPage();
  hostile.on('pageerror', (e) => jsErrors.push(`hostile page error: ${e.message}`));
  hostile.on('request', (r) => { if (!r.url().startsWith('data:') && r.url() !== pathToFileURL(hostilePath).href) jsErrors.push(`hostile request: ${r.url()}`); });
  await hostile.goto(pathToFileURL(hostilePath).href);
  await hostile.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  const seen = await hostile.evaluate(() => {
    const data = JSON.parse(document.getElementById('attnbench-data').textContent);
    const bad = data.cases.find((c) => (c.message || '').includes('<img'));
    const cells = [...document.querySelectorAll('table[data-case-rows] td')];
    return {
      message: bad ? bad.message : null,
      shown: cells.some((td) => bad && td.textContent === bad.message),
      status: cells.some((td) => bad && td.textContent === bad.status && td.querySelector('.badge.st-other')),
      injected: document.querySelectorAll('main img, main b.injected').length,
      pwned: document.body.hasAttribute('data-pwned'),
    };
  });
  check(seen.message !== null && seen.shown && seen.status && seen.injected === 0 && !seen.pwned,
        `hostile text stays text: ${JSON.stringify(seen)}`);
  await hostile.close();
} finally {
  await browser.close();
}
for (const e of jsErrors) check(false, e);
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all browser checks passed');
