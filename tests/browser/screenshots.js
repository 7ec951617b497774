/*
 * screenshots.js -- takes the four views' pictures in docs/ (live-overview.png,
 * live-site.png, live-alerts.png, live-nodes.png) from a real gateway with
 * citysim and an incident on site-01, after two minutes of traffic.
 *
 *   tools/services run -- env CITYGATE_BUILD_DIR=$PWD/build/test node tests/browser/screenshots.js
 */
'use strict';
const path = require('node:path');
const h = require('./harness.js');

(async () => {
    const gw = await h.startGateway({ nodes: 8, sites: 4 });
    const sim = gw.simulate(['--incident', 'site-01@20s']);
    const browser = await h.launch();
    try {
        const page = await h.openPage(browser, gw, { hash: '#/alerts' });
        await page.locator('#alerts-open tbody tr').first().waitFor({ timeout: 120000 });
        await h.sleep(Number(process.env.CITYGATE_SHOT_WAIT_S || 60) * 1000);
        for (const [name, hash] of [['overview', '#/overview'], ['site', '#/site/site-01'], ['alerts', '#/alerts'], ['nodes', '#/nodes']]) {
            await page.goto(gw.url + '/' + hash);
            await page.locator('main h1').waitFor();
            await h.sleep(1500);
            const file = path.join(h.ROOT, 'docs', `live-${name}.png`);
            await page.screenshot({ path: file, fullPage: name !== 'site' });
            console.log(`screenshots: ${file}`);
        }
        if (page.errors.length)
            throw new Error('console errors: ' + page.errors.join('; '));
    } finally {
        await browser.close();
        await h.stop(sim);
        await gw.stop();
    }
})().catch(e => {
    console.error(`screenshots: ${e.message}`);
    process.exit(1);
});
