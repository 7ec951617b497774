/*
 * stream.test.js -- the page on the event stream: an incident in citysim
 * raises an alert that is on the page within 1 s of the frame that revealed
 * it; acknowledging it needs the operator token; a stream cut and restored
 * leaves no window missing.
 */
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const h = require('./harness.js');

let gw, sim, browser, sub, alertPage;
const arrivals = []; /* [ms, node] of every frame of the incident site, as the broker delivered it */
const INCIDENT_SITE = 'site-01';
const TOKEN = 'c1e4a0b7d2f94e6a8b3c5d7e9f1a2b3c';
let incidentAlert = null; /* the key of the incident's alert on the page, once seen */

/* Installed before the page's own scripts: the page's clock when each alert row first enters the DOM. */
function recordAlertRows() {
    window.alertRows = {};
    new MutationObserver(() => {
        for (const tr of document.querySelectorAll('#alerts-open tbody tr'))
            window.alertRows[tr.dataset.alert] ??= performance.timeOrigin + performance.now();
    }).observe(document, { childList: true, subtree: true });
}

test.before(async () => {
    gw = await h.startGateway({ nodes: 8, sites: 4, extra: `[live]\noperator_token = ${TOKEN}\n` });
    /* Frame arrivals, timed by a subscriber on the same broker (%U: Unix time with ns). */
    sub = spawn('mosquitto_sub', ['-L', process.env.CITYGATE_MQTT_URL.replace('tcp:', 'mqtt:') + `/city/v1/${INCIDENT_SITE}/+/data`,
        '-F', '%U %t', '-q', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    readline.createInterface({ input: sub.stdout }).on('line', line => {
        const [when, topic] = line.split(' ');
        arrivals.push([Number(when) * 1000, topic.split('/')[3]]);
    });
    browser = await h.launch();
    /* The alerts view watches from the start while the other test runs: night traffic may take a minute to reveal the incident. */
    alertPage = await h.openPage(browser, gw, { hash: '#/alerts', init: recordAlertRows });
    await alertPage.locator('main h1').waitFor();
    sim = gw.simulate(['--incident', `${INCIDENT_SITE}@5s`]);
});

test.after(async () => {
    await browser?.close();
    sub?.kill();
    await h.stop(sim);
    await gw?.stop();
});

/* Every lane's window starts held by the page, as {key: [start_ms...]}. */
function laneWindows(page) {
    /* The page's own model module: the same instance its scripts use. */
    return page.evaluate(async () => {
        const { model } = await import('/model.js');
        return Object.fromEntries([...model.lanes].map(([k, ring]) => [k.replaceAll('\x1f', '/'), ring.starts()]));
    });
}

test('the stream cut and restored: no window missing afterwards', async () => {
    const proxy = await h.tcpProxy(Number(new URL(gw.url).port));
    const page = await h.openPage(browser, { url: proxy.url }, { hash: '#/overview' });
    await h.until('lane windows on the page', async () => Object.keys(await laneWindows(page)).length > 0);
    const errorsBefore = page.errors.length;
    proxy.cut();
    await page.locator('#conn .lost').waitFor();
    /* Two base windows close while the page is cut off. */
    await h.sleep(2 * gw.base_ms + 1000);
    proxy.restore();
    await page.locator('#conn .ok').waitFor({ timeout: 15000 });
    const errorsDuring = page.errors.length;
    /* A fresh page's snapshot is the gateway's own account of every lane's windows. */
    const fresh = await h.openPage(browser, gw);
    await h.until('the fresh page to hold lanes', async () => Object.keys(await laneWindows(fresh)).length > 0);
    let missing = [];
    await h.until('the restored page to hold every window of the fresh one', async () => {
        const [got, want] = [await laneWindows(page), await laneWindows(fresh)];
        missing = [];
        for (const [lane, starts] of Object.entries(want)) {
            const have = new Set(got[lane] || []);
            const since = Math.min(...(got[lane] || [Infinity]));
            missing.push(...starts.filter(s => s >= since && !have.has(s)).map(s => `${lane}@${s}`));
        }
        return missing.length === 0;
    }, 10000, 250).catch(e => assert.fail(`${e.message}; missing: ${missing.join(' ')}`));
    const cutWindows = Object.values(await laneWindows(page)).flat().length;
    console.log(`# cut for ${2 * gw.base_ms + 1000} ms: every lane's windows held afterwards (${cutWindows} lane windows)`);
    /* Errors while cut are the reconnects' own; none before or after. */
    assert.deepEqual([...page.errors.slice(0, errorsBefore), ...page.errors.slice(errorsDuring)], []);
    await page.context().close();
    await fresh.context().close();
    await proxy.close();
});

test('an incident raises an alert on the page within 1 s of the frame that revealed it', { timeout: 180000 }, async () => {
    const page = alertPage;
    const [key, shownMs] = await h.until('an alert of the incident site on the page', async () =>
        Object.entries(await page.evaluate(() => window.alertRows)).find(([k]) => k.split("/").includes(INCIDENT_SITE)), 150000, 200);
    const alert = await page.evaluate(async k => {
        const { model } = await import('/model.js');
        return model.alertHistory.find(a => a.id === k);
    }, key);
    assert.equal(alert.site, INCIDENT_SITE);
    /*
     * The alert names the node's time of its deciding value, stamped before
     * the frame carrying it was published: shown - timestamp_ms bounds
     * publish -> DOM from above. The subscriber's own arrival time of that
     * frame (the node's first frame from then on) is printed beside it; it
     * can trail the gateway's under load, so it is not the bound.
     */
    const frame = arrivals.filter(([ms, node]) => node === alert.node && ms >= alert.timestamp_ms).sort((x, y) => x[0] - y[0])[0];
    assert.ok(frame, `the frame of ${alert.node} at ${alert.timestamp_ms} was seen by the subscriber`);
    const bound = shownMs - alert.timestamp_ms;
    console.log(`# publish -> alert row in the DOM: at most ${bound.toFixed(1)} ms (node time of the value); ` +
        `subscriber's arrival -> DOM ${(shownMs - frame[0]).toFixed(1)} ms (${alert.state}, ${alert.node}, lane ${alert.lane})`);
    assert.ok(bound >= 0 && bound < 1000, `publish -> DOM up to ${bound} ms`);
    assert.deepEqual(page.errors, []);
    incidentAlert = key;
});

test('acknowledge: refused without the operator token, done with it, and kept in a new page', async () => {
    assert.ok(incidentAlert, 'the incident raised an alert');
    const page = alertPage;
    const row = page.locator(`#alerts-open tbody tr[data-alert="${incidentAlert}"]`);
    assert.equal(await row.getAttribute('data-acked'), 'false');
    await page.fill('#token', '');
    await row.getByRole('button').click();
    await page.locator('#ack-message .error').waitFor();
    assert.match(await page.locator('#ack-message').textContent(), /\(401\)/);
    await page.fill('#token', 'not-the-token');
    await row.getByRole('button').click();
    await page.waitForFunction(() => /\(403\)/.test(document.querySelector('#ack-message').textContent));
    assert.equal(await row.getAttribute('data-acked'), 'false');
    await page.fill('#token', TOKEN);
    await row.getByRole('button').click();
    /* The gateway's alert event, not the page's own answer, marks the row. */
    await page.locator(`#alerts-open tbody tr[data-alert="${incidentAlert}"][data-acked="true"]`).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#ack-message .error').count(), 0);
    const fresh = await h.openPage(browser, gw, { hash: '#/alerts' });
    await fresh.locator(`#alerts-open tbody tr[data-alert="${incidentAlert}"][data-acked="true"]`).waitFor({ timeout: 5000 });
    /* The two refusals are the only failed requests. */
    assert.deepEqual(page.errors.filter(e => !/\b(401|403)\b/.test(e)), []);
    assert.equal(page.errors.length, 4, page.errors.join('; '));
    assert.deepEqual(fresh.errors, []);
    await fresh.context().close();
    await page.context().close();
});
