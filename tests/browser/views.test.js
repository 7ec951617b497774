/*
 * views.test.js -- every view (overview, site, alerts, nodes): no console
 * error, no WCAG 2.1 AA violation found by axe-core, every visible string
 * changed by the Spanish switch (text outside the string table is a number,
 * a time, "—", or the gateway's own text marked data-value: ids, firmware);
 * the nodes view lists every node of the registry with the gateway's own
 * last window, and the counters event's short entries keep each node's
 * frames and last seen moving.
 */
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const f = h.fleet({ nodes: 6, sites: 3 }, ({ gw }) =>
    h.until('a closed window on every site', async () =>
        (await gw.live()).sites.filter(s => s.window_start_ms !== null).length === gw.sites));

const VIEWS = { overview: '#/overview', site: '#/site/site-01', alerts: '#/alerts', nodes: '#/nodes' };

/* Each visible text of the page: its text, and the data-i18n key it belongs to (null for values). */
function visibleTexts(page) {
    return page.evaluate(() => {
        const out = [];
        const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walk.nextNode()) {
            const n = walk.currentNode;
            const text = n.textContent.trim();
            const e = n.parentElement;
            if (!text || !e.checkVisibility() || e.closest('select'))
                continue;
            if (e.closest('[data-value]'))
                continue; /* the gateway's own text: ids, firmware versions, rule names */
            const owner = e.closest('[data-i18n]');
            out.push({ text, key: owner ? owner.dataset.i18n + (owner.dataset.i18nArgs || '') : null });
        }
        out.push({ text: document.title, key: 'document.title' });
        for (const e of document.querySelectorAll('[aria-label]'))
            out.push({ text: e.getAttribute('aria-label'), key: 'aria-label' });
        return out;
    });
}

for (const [name, hash] of Object.entries(VIEWS)) {
    test(`${name}: no console error, no WCAG 2.1 AA violation, in English and Spanish`, async () => {
        const page = await h.openPage(f.browser, f.gw, { hash });
        await page.locator('main h1').waitFor();
        assert.deepEqual(await h.axeViolations(page), [], 'axe, English');
        const en = await visibleTexts(page);
        for (const { text, key } of en)
            if (key === null) /* numbers, times, "—" */
                assert.match(text, /^[^\p{L}]*$/u, `"${text}" is neither a value nor in the string table`);
        await page.selectOption('#lang', 'es');
        await page.waitForFunction(() => document.documentElement.lang === 'es');
        const es = await visibleTexts(page);
        const esByKey = new Map(es.filter(x => x.key).map(x => [x.key, x.text]));
        for (const { text, key } of en)
            if (key)
                assert.notEqual(esByKey.get(key) ?? text + ' (gone)', text, `"${text}" (${key}) is the same in Spanish`);
        assert.deepEqual(await h.axeViolations(page), [], 'axe, Spanish');
        assert.deepEqual(page.errors, []);
        await page.context().close();
    });
}

test('nodes: every node of the registry, with its last window from /api/v1/live', async () => {
    const page = await h.openPage(f.browser, f.gw, { hash: '#/nodes' });
    await page.locator('#nodes tbody tr').nth(f.gw.nodes - 1).waitFor();
    await h.until('the nodes view to show the live windows', async () => {
        const live = await f.gw.live();
        const want = live.sites.flatMap(s => s.node_list.map(n => ({ site: s.site, node: n.node, window: n.window_start_ms, stale: n.stale })));
        const rows = await page.$$eval('#nodes tbody tr', trs => trs.map(tr => ({ site: tr.dataset.site, node: tr.dataset.node, health: tr.dataset.health, last: tr.querySelector('[data-field=last]').textContent })));
        assert.equal(rows.length, f.gw.nodes);
        assert.deepEqual(rows.map(r => r.site + '/' + r.node), want.map(w => w.site + '/' + w.node).sort());
        return want.every(w => {
            const r = rows.find(x => x.node === w.node);
            const shown = new Date(w.window).toLocaleTimeString('en-GB', { hour12: false });
            return r.last === shown && r.health === (w.stale ? 'late' : 'ok');
        });
    }, 20000, 250);
    assert.deepEqual(page.errors, []);
    await page.context().close();
});

/* Installed before the page's own scripts: counts the short node entries of the counters events it gets. */
function countSeenEntries() {
    window.seenEntries = 0;
    const Source = window.EventSource;
    window.EventSource = class extends Source {
        constructor(...args) {
            super(...args);
            this.addEventListener('counters', e => { window.seenEntries += JSON.parse(e.data).seen.length; });
        }
    };
}

test('nodes: the counters event\'s short entries move every node\'s frames and last seen on', async () => {
    const page = await h.openPage(f.browser, f.gw, { hash: '#/nodes', init: countSeenEntries });
    await page.locator('#nodes tbody tr').nth(f.gw.nodes - 1).waitFor();
    /* node -> [frames, last_seen_ms] in the page's own model */
    const known = () => page.evaluate(async () => {
        const { model } = await import('/model.js');
        return Object.fromEntries([...model.nodes.values()].map(n => [n.node, [n.frames, n.last_seen_ms]]));
    });
    const before = await known();
    assert.equal(Object.keys(before).length, f.gw.nodes);
    await h.until('every node\'s frames and last seen to move on', async () => {
        const now = await known();
        return await page.evaluate(() => window.seenEntries) > 0 &&
            Object.entries(before).every(([node, [frames, seen]]) => now[node][0] > frames && now[node][1] > seen);
    }, 20000, 250);
    assert.deepEqual(page.errors, []);
    await page.context().close();
});

test('keyboard: the skip link comes first, and Tab and Enter reach every view', async () => {
    const page = await h.openPage(f.browser, f.gw, { hash: '#/overview' });
    await page.locator('main h1').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
    for (const [name, heading] of [['#/alerts', 'Alerts'], ['#/nodes', 'Nodes'], ['#/overview', 'Overview: every site']]) {
        let reached = false;
        for (let i = 0; i < 12 && !reached; i++) {
            await page.keyboard.press('Tab');
            reached = await page.evaluate(href => document.activeElement.getAttribute('href') === href, name);
        }
        assert.ok(reached, `Tab reaches the link to ${name}`);
        await page.keyboard.press('Enter');
        await page.waitForFunction(t => document.querySelector('main h1')?.textContent === t, heading);
        await page.evaluate(() => document.activeElement.blur());
    }
    assert.deepEqual(page.errors, []);
    await page.context().close();
});

test('200 % zoom: every view fits the window\'s width; wide tables scroll in their own box', async () => {
    const context = await f.browser.newContext({ viewport: { width: 640, height: 450 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    for (const hash of Object.values(VIEWS)) {
        await page.goto(f.gw.url + '/' + hash);
        await page.locator('main h1').waitFor();
        const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        assert.ok(scroll <= width, `${hash}: the page is ${scroll} px wide in a ${width} px window`);
    }
    await context.close();
});
