/*
 * soak.test.js -- the page left running on the overview and on a site: the
 * JS heap, sampled after a forced garbage collection, stays flat.
 *
 * The suite's run is short (CITYGATE_SOAK_S, default 20 s, 20 sites); the
 * bench case (tools/bench, case 7) runs 200 sites x 4 lanes for longer with
 * the same file (CITYGATE_SOAK_SITES, CITYGATE_SOAK_NODES, CITYGATE_SOAK_LANES:
 * citysim's --lanes, CITYGATE_SOAK_S). The bound: the median of the last
 * third of the samples may be at most 10 % plus 256 KiB over the median of
 * the second third (the page holds all its lanes by then); the samples, the
 * bound and the peak are printed.
 */
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const SECONDS = Number(process.env.CITYGATE_SOAK_S || 20);
const SITES = Number(process.env.CITYGATE_SOAK_SITES || 20);
const NODES = Number(process.env.CITYGATE_SOAK_NODES || SITES);
const LANES = process.env.CITYGATE_SOAK_LANES; /* default: each road's own */

const f = h.fleet({ nodes: NODES, sites: SITES, simArgs: LANES ? ['--lanes', LANES] : [] });

test(`soak: ${SITES} sites${LANES ? ` x ${LANES} lanes` : ''}, ${SECONDS} s, the JS heap stays flat`, { timeout: (SECONDS + 120) * 1000 }, async () => {
    const pages = [await h.openPage(f.browser, f.gw, { hash: '#/overview' }), await h.openPage(f.browser, f.gw, { hash: '#/site/site-00' })];
    await pages[0].locator('#overview tbody tr').nth(SITES - 1).waitFor({ timeout: 60000 });
    const cdps = await Promise.all(pages.map(p => p.context().newCDPSession(p)));
    const heap = async () => {
        let used = 0;
        for (const c of cdps) {
            await c.send('HeapProfiler.collectGarbage');
            used += (await c.send('Runtime.getHeapUsage')).usedSize;
        }
        return used;
    };
    const samples = [];
    const start = Date.now();
    while (Date.now() - start < SECONDS * 1000) {
        samples.push(await heap());
        await h.sleep(Math.max(1000, SECONDS * 1000 / 20));
    }
    samples.push(await heap());
    /* Medians of thirds: a sample may catch data in flight (an event being parsed), a leak lifts them all. */
    const third = i => samples.slice(Math.floor(samples.length * i / 3), Math.floor(samples.length * (i + 1) / 3));
    const median = v => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const [base, end] = [median(third(1)), median(third(2))];
    const bound = base * 1.1 + 256 * 1024;
    const peak = Math.max(...samples.slice(Math.floor(samples.length / 3)));
    const kib = v => (v / 1024).toFixed(0);
    console.log(`# heap KiB (two pages) over ${SECONDS} s: ${samples.map(kib).join(' ')}`);
    console.log(`# medians: second third ${kib(base)} KiB, last third ${kib(end)} KiB, bound ${kib(bound)} KiB; peak ${kib(peak)} KiB`);
    assert.ok(end <= bound, `heap grew to ${kib(end)} KiB, over the bound ${kib(bound)} KiB`);
    for (const p of pages) {
        assert.deepEqual(p.errors, []);
        await p.context().close();
    }
});
