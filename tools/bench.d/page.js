/*
 * page.js -- bench_page: publish -> page update latency, measured in the live
 * page itself: Debian's chromium (Playwright, as tests/browser drives it)
 * shows the gateway's alerts view, and the page notes on its own clock when
 * each alert row first enters the DOM; bench_lat --trips FILE wrote when each
 * tripping frame was published, on the wall clock of the same machine.
 *
 *   node page.js --url URL --ready FILE --trips FILE [--wait-s S]
 *
 * Writes FILE (--ready) once the page is on the stream; then waits for the
 * trips file, matches each trip frame with the first row of its node's alert
 * (every node trips once a run), and prints
 * "trips= rows= errors= page_p50_ms= page_p99_ms= page_max_ms=". Exit
 * status 0 when every trip frame's alert reached the page within --wait-s
 * (default 10) and the page logged no error, 1 otherwise, 64 usage.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const h = require(path.join(__dirname, '../../tests/browser/harness.js'));

function args() {
    const out = { wait_s: 10 };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i += 2) {
        const [k, v] = [argv[i], argv[i + 1]];
        if (v === undefined || !['--url', '--ready', '--trips', '--wait-s'].includes(k)) {
            process.stderr.write('usage: node page.js --url URL --ready FILE --trips FILE [--wait-s S]\n');
            process.exit(64);
        }
        out[k.slice(2).replace('-', '_')] = v;
    }
    if (!out.url || !out.ready || !out.trips || !(Number(out.wait_s) > 0)) {
        process.stderr.write('usage: node page.js --url URL --ready FILE --trips FILE [--wait-s S]\n');
        process.exit(64);
    }
    return out;
}

/* Installed before the page's own scripts: the page's clock when each alert row first enters the DOM. */
function recordAlertRows() {
    window.alertRows = {};
    new MutationObserver(() => {
        for (const tr of document.querySelectorAll('#alerts-open tbody tr'))
            window.alertRows[tr.dataset.alert] ??= performance.timeOrigin + performance.now();
    }).observe(document, { childList: true, subtree: true });
}

/* The nearest-rank quantile q of sorted v (bench_quantile's rule). */
function quantile(v, q) {
    return v.length ? v[Math.min(v.length, Math.max(1, Math.ceil(q * v.length))) - 1] : 0;
}

async function main() {
    const o = args();
    const browser = await h.launch();
    try {
        const page = await h.openPage(browser, { url: o.url.replace(/\/$/, '') }, { hash: '#/alerts', init: recordAlertRows });
        await page.locator('#conn .ok').waitFor({ timeout: 60000 });
        fs.writeFileSync(o.ready, '');
        await h.until('the trips file', () => fs.existsSync(o.trips), 600000);
        /* "<node> <publish ms>" a line; the alert's id is <site>/<node>/<rule>/<quantity>-<lane>. */
        const published = new Map(fs.readFileSync(o.trips, 'utf8').trim().split('\n').filter(Boolean)
            .map(l => l.split(' ')).map(([node, ms]) => [node, Number(ms)]));
        const firstRow = async () => {
            const rows = await page.evaluate(() => window.alertRows);
            const first = new Map();
            for (const [id, ms] of Object.entries(rows)) {
                const node = id.split('/')[1];
                if (published.has(node) && !(first.get(node) <= ms))
                    first.set(node, ms);
            }
            return first;
        };
        let first = new Map();
        const deadline = Date.now() + Number(o.wait_s) * 1000;
        while ((first = await firstRow()).size < published.size && Date.now() < deadline)
            await h.sleep(100);
        const lat = [...first].map(([node, ms]) => ms - published.get(node)).sort((a, b) => a - b);
        const f = v => v.toFixed(1);
        console.log(`trips=${published.size} rows=${first.size} errors=${page.errors.length}` +
            ` page_p50_ms=${f(quantile(lat, 0.5))} page_p99_ms=${f(quantile(lat, 0.99))}` +
            ` page_max_ms=${f(lat.length ? lat[lat.length - 1] : 0)}`);
        for (const e of page.errors)
            process.stderr.write(`page.js: page error: ${e}\n`);
        return first.size === published.size && page.errors.length === 0 ? 0 : 1;
    } finally {
        await browser.close();
    }
}

main().then(code => process.exit(code), e => {
    process.stderr.write(`page.js: ${e.stack || e}\n`);
    process.exit(1);
});
