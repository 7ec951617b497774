/*
 * soak.test.js -- the page left running on the overview and on a site: the
 * JS heap, sampled after a forced garbage collection, stays flat.
 *
 * The suite's run is short (CITYGATE_SOAK_S, default 20 s, 20 sites); the
 * bench case runs 200 sites x 4 lanes for longer with the same file
 * (CITYGATE_SOAK_SITES, CITYGATE_SOAK_NODES, CITYGATE_SOAK_S). The bound:
 * the heap after the first third of the run may grow by at most 10 % plus
 * 256 KiB by its end; the samples and the bound are printed.
 */
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const SECONDS = Number(process.env.CITYGATE_SOAK_S || 20);
const SITES = Number(process.env.CITYGATE_SOAK_SITES || 20);
const NODES = Number(process.env.CITYGATE_SOAK_NODES || SITES);

const f = h.fleet({ nodes: NODES, sites: SITES });

test(`soak: ${SITES} sites, ${SECONDS} s, the JS heap stays flat`, { timeout: (SECONDS + 120) * 1000 }, async () => {
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
    const base = samples[Math.floor(samples.length / 3)];
    const bound = base * 1.1 + 256 * 1024;
    const peak = Math.max(...samples.slice(Math.floor(samples.length / 3)));
    const kib = v => (v / 1024).toFixed(0);
    console.log(`# heap KiB (two pages) over ${SECONDS} s: ${samples.map(kib).join(' ')}`);
    console.log(`# after the first third: ${kib(base)} KiB, peak ${kib(peak)} KiB, bound ${kib(bound)} KiB`);
    assert.ok(peak <= bound, `heap grew to ${kib(peak)} KiB, over the bound ${kib(bound)} KiB`);
    for (const p of pages) {
        assert.deepEqual(p.errors, []);
        await p.context().close();
    }
});
