/*
 * harness.js -- what every browser test stands on: a real citygate on the
 * broker and store that tools/services started, citysim publishing signed
 * frames to it, and Debian's chromium driven by Playwright.
 *
 * Environment (set by the ctest entry in tests/CMakeLists.txt and by
 * tools/services): CITYGATE_BUILD_DIR (the build with gateway/citygate and
 * tools/citysim), CITYGATE_MQTT_URL, CITYGATE_INFLUX_URL,
 * CITYGATE_SERVICES_DIR. CITYGATE_CHROMIUM overrides /usr/bin/chromium.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const test = require('node:test');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '../..');
const WEB = path.join(ROOT, 'gateway/web');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function env(name) {
    const v = process.env[name];
    if (!v)
        throw new Error(`${name} is not set: run under tools/services (ctest -L browser)`);
    return v;
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

/* Polls fn() until it returns a truthy value or timeout_ms pass; returns that value. */
async function until(what, fn, timeout_ms = 20000, every_ms = 100) {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
        const v = await fn();
        if (v)
            return v;
        if (Date.now() > deadline)
            throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}`);
        await sleep(every_ms);
    }
}

/* A child process whose stderr goes to DIR/name.log; ended by stop(). */
function run(name, file, args, extraEnv = {}) {
    const log = fs.openSync(path.join(env('CITYGATE_SERVICES_DIR'), name + '.log'), 'a');
    const child = spawn(file, args, { stdio: ['ignore', log, log], env: { ...process.env, ...extraEnv } });
    child.exited = new Promise(resolve => child.on('exit', (code, sig) => resolve(code ?? sig)));
    return child;
}

async function stop(child) {
    if (!child || child.exitCode !== null || child.signalCode !== null)
        return;
    child.kill('SIGTERM');
    await child.exited;
}

/* A POSIX TZ whose local time is now between 08:00 and 09:00. */
function rushHourZone() {
    let east = (8 - new Date().getUTCHours() + 24) % 24; /* hours east of UTC */
    if (east > 12)
        east -= 24;
    return `RUSH${east > 0 ? '-' : '+'}${Math.abs(east)}`; /* POSIX: the sign is west of UTC */
}

/*
 * A gateway with `sites` simulated sites of `nodes` nodes: writes the registry
 * and the configuration, starts citygate and waits for its broker connection.
 * opts.widths: base window width first (default 5s, so tests see windows close
 * within seconds); opts.extra: more configuration text.
 */
async function startGateway({ nodes = 8, sites = 4, widths = '5s,1m', extra = '' } = {}) {
    const build = env('CITYGATE_BUILD_DIR');
    const dir = fs.mkdtempSync(path.join(env('CITYGATE_SERVICES_DIR'), 'gw-'));
    const registry = path.join(dir, 'registry.ini');
    const citysim = path.join(build, 'tools/citysim');
    execFileSync(citysim, ['--registry', registry, '--nodes', String(nodes), '--sites', String(sites)]);
    const base = widths.split(',')[0];
    const conf = path.join(dir, 'citygate.conf');
    fs.writeFileSync(conf, `[mqtt]
url = ${env('CITYGATE_MQTT_URL')}
client_id = gw-${path.basename(dir)}
[devices]
registry = ${registry}
[windows]
widths = ${widths}
grace = 1s
late_horizon = 1m
[journal]
dir = ${dir}/journal
[store]
url = ${env('CITYGATE_INFLUX_URL')}
database = citygate
retention = ${widths.split(',').map(w => w + '=1d').join(',')}
[http]
listen = 127.0.0.1:0
[rule slow-traffic]
quantity = SPEED
direction = below
warn = 30
crit = 15
warn_reset = 35
crit_reset = 20
${extra}`);
    const name = path.basename(dir) + '-citygate';
    const gw = run(name, path.join(build, 'gateway/citygate'), ['-c', conf]);
    /*
     * The kernel picks the port as citygate binds it (listen = 127.0.0.1:0), and its "running"
     * line names it: a port picked here and bound later could be taken in between.
     */
    let url = null;
    await until('the gateway to connect to the broker', async () => {
        if (gw.exitCode !== null)
            throw new Error(`citygate exited with ${gw.exitCode}; log in ${dir}`);
        const port = url ? null : / running: .*, http port (\d+),/.exec(
            fs.readFileSync(path.join(env('CITYGATE_SERVICES_DIR'), name + '.log'), 'utf8'));
        if (port)
            url = `http://127.0.0.1:${port[1]}`;
        if (!url)
            return false;
        try {
            const r = await fetch(url + '/healthz');
            return (await r.text()).includes('"mqtt_connected":true');
        } catch {
            return false;
        }
    }, 30000);
    return {
        url, dir, nodes, sites, base_ms: parseInt(base, 10) * 1000, proc: gw,
        /*
         * citysim publishing to the broker with extra arguments (e.g.
         * --incident), in the morning rush hour whatever the time of the run:
         * its traffic follows the local time, so a run at night would see a
         * vehicle a minute, and an incident might show only minutes later.
         */
        simulate(args = []) {
            return run(path.basename(dir) + '-citysim', citysim, ['--broker', env('CITYGATE_MQTT_URL'),
                '--nodes', String(nodes), '--sites', String(sites), '--quiet', ...args], { TZ: rushHourZone() });
        },
        async live() {
            const r = await fetch(url + '/api/v1/live');
            if (!r.ok)
                throw new Error('/api/v1/live: HTTP ' + r.status);
            return r.json();
        },
        async stop() {
            await stop(gw);
        },
    };
}

async function launch() {
    return chromium.launch({
        executablePath: process.env.CITYGATE_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
}

/*
 * A page on the gateway at gw.url, served by the gateway itself (its files
 * compiled in, under its Content-Security-Policy), in language `lang`;
 * `init`, a function, runs in the page before its own scripts.
 * Collects console errors and uncaught exceptions in page.errors.
 */
async function openPage(browser, gw, { lang = 'en-GB', hash = '', init = null } = {}) {
    const context = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    if (init)
        await page.addInitScript(init);
    page.errors = [];
    page.on('console', m => {
        if (m.type() === 'error')
            page.errors.push(m.text());
    });
    page.on('pageerror', e => page.errors.push(String(e)));
    page.on('response', r => {
        if (r.status() >= 400)
            page.errors.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(gw.url + '/' + hash);
    return page;
}

/*
 * A test file's fleet: before its tests a gateway (startGateway(opts)),
 * citysim publishing to it (with opts.simArgs, e.g. ['--lanes', '4']), chromium, and then `ready(fleet)` awaited if
 * given (one hook: node:test runs top-level hooks as they are declared);
 * after them each stopped. Returns {gw, browser}, set once the tests run.
 */
function fleet(opts, ready = null) {
    const f = { gw: null, sim: null, browser: null };
    test.before(async () => {
        f.gw = await startGateway(opts);
        f.sim = f.gw.simulate(opts.simArgs);
        f.browser = await launch();
        await ready?.(f);
    });
    test.after(async () => {
        await f.browser?.close();
        await stop(f.sim);
        await f.gw?.stop();
    });
    return f;
}

/*
 * A TCP proxy on loopback to port `port`, so a test can cut every connection
 * through it (cut(): open ones are destroyed, new ones closed at once) and
 * let them through again (restore()).
 */
async function tcpProxy(port) {
    const sockets = new Set();
    let open = true;
    const server = net.createServer(client => {
        if (!open)
            return client.destroy();
        const upstream = net.connect(port, '127.0.0.1');
        for (const [a, b] of [[client, upstream], [upstream, client]]) {
            sockets.add(a);
            a.on('error', () => b.destroy());
            a.on('close', () => {
                sockets.delete(a);
                b.destroy();
            });
            a.pipe(b);
        }
    });
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
    return {
        url: `http://127.0.0.1:${server.address().port}`,
        cut() {
            open = false;
            for (const s of sockets)
                s.destroy();
        },
        restore() {
            open = true;
        },
        close() {
            this.cut();
            return new Promise(resolve => server.close(resolve));
        },
    };
}

/* axe-core's WCAG 2.1 A and AA violations on the page as it is now. */
async function axeViolations(page) {
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined')))
        await page.evaluate(AXE);
    const result = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }));
    return result.violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`);
}

module.exports = { ROOT, WEB, startGateway, fleet, launch, openPage, tcpProxy, axeViolations, until, sleep, stop };
