/*
 * overview.test.js -- the overview against the gateway's own /api/v1/live:
 * every simulated site is there with the same figures for the same window,
 * its free-flow speed is its road's (citysim: a motorway, 110 km/h, one site
 * in four from site-00; 50 km/h the others) and its state follows its mean
 * speed relative to it, a missing figure shows "—", the page logs no error and axe-core finds no
 * WCAG 2.1 AA violation.
 */
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const f = h.fleet({ nodes: 8, sites: 4 });

/* The text the page must show for v with `digits` decimals (en-GB), or "—". */
function shown(v, digits) {
    if (v === null || v === undefined)
        return '—';
    return v.toLocaleString('en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

test('overview: every site, figures equal to /api/v1/live for the same window', async () => {
    const page = await h.openPage(f.browser, f.gw);
    const sites = Array.from({ length: f.gw.sites }, (_, i) => `site-${String(i).padStart(2, '0')}`);
    await page.locator('#overview tbody tr').nth(f.gw.sites - 1).waitFor();
    const checked = new Set();
    let withSpeed = 0, withoutSpeed = 0;
    const states = new Set();
    await h.until('every site compared in one same window', async () => {
        const live = await f.gw.live();
        const rows = await page.$$eval('#overview tbody tr', trs => trs.map(tr => ({
            site: tr.dataset.site,
            window: tr.dataset.window,
            state: tr.dataset.state,
            cells: Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.field, td.textContent])),
        })));
        assert.deepEqual(rows.map(r => r.site), sites, 'one row per simulated site, in order');
        for (const s of live.sites) {
            const row = rows.find(r => r.site === s.site);
            if (!row || s.window_start_ms === null || row.window !== String(s.window_start_ms))
                continue;
            assert.equal(row.cells.flow, shown(s.flow_vph, 0), `${s.site} flow`);
            assert.equal(row.cells.speed, shown(s.speed_mean_kmh, 1), `${s.site} mean speed`);
            assert.equal(row.cells.v85, shown(s.v85_kmh, 1), `${s.site} v85`);
            assert.equal(row.cells.occ, shown(s.occupancy_pct, 1), `${s.site} occupancy`);
            assert.equal(row.cells.nodes, `${s.nodes_fresh} / ${s.nodes}`, `${s.site} nodes`);
            const freeFlow = Number(s.site.slice(5)) % 4 === 0 ? 110 : 50;
            assert.equal(s.free_flow_kmh, freeFlow, `${s.site} free-flow speed`);
            if (s.speed_mean_kmh !== null && !s.stale) {
                const r = s.speed_mean_kmh / freeFlow;
                assert.equal(row.state, r >= 0.75 ? 'free' : r >= 0.5 ? 'slow' : 'congested',
                    `${s.site} state at ${s.speed_mean_kmh} of ${freeFlow} km/h`);
                states.add(`${s.site} ${row.state}`);
            }
            if (s.speed_mean_kmh === null)
                withoutSpeed++;
            else
                withSpeed++;
            checked.add(s.site);
        }
        return checked.size === sites.length && withSpeed > 0;
    }, 40000, 250);
    console.log(`# compared ${withSpeed} site windows with a speed, ${withoutSpeed} without ("—")`);
    console.log(`# states seen: ${[...states].sort().join(', ')}`);
    assert.deepEqual(page.errors, []);
    await page.context().close();
});

test('overview: no console error, no WCAG 2.1 AA violation', async () => {
    const page = await h.openPage(f.browser, f.gw);
    await page.locator('#overview tbody tr').first().waitFor();
    assert.deepEqual(await h.axeViolations(page), []);
    assert.deepEqual(page.errors, []);
    await page.context().close();
});
