/*
 * app.js -- the page's entry: the views behind #/ routes, the language
 * switch, the connection line, and drawing paused while the tab is hidden.
 *
 * Routes: #/overview (default), #/site/<id>, #/alerts, #/nodes. A view is
 * mounted once per route and then told what changed; while the tab is hidden
 * the model keeps taking data but no view draws, and one update per changed
 * part catches up when it shows again.
 */
import { apply, choose, current } from './i18n.js';
import { fill, tel } from './dom.js';
import { model } from './model.js';
import { Alerts } from './alerts.js';
import { Nodes } from './nodes.js';
import { Overview } from './overview.js';
import { Site } from './site.js';
import { start } from './source.js';

const VIEWS = {
    overview: () => new Overview(),
    alerts: () => new Alerts(),
    nodes: () => new Nodes(),
    site: id => new Site(id),
};

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const langSelect = document.getElementById('lang');
let view = null;
let routeKey = null;
const pending = new Set();

function route() {
    const h = location.hash;
    if (h && !h.startsWith('#/'))
        return; /* the skip link's #main: stay on the current view */
    const [name, ...rest] = (h.slice(2) || 'overview').split('/');
    const key = VIEWS[name] ? name : 'overview';
    const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
    routeKey = key + '/' + (arg ?? '');
    view?.unmount?.();
    view = VIEWS[key](arg);
    view.mount(main);
    for (const a of document.querySelectorAll('nav a'))
        if (a.getAttribute('href') === '#/' + key)
            a.setAttribute('aria-current', 'page');
        else
            a.removeAttribute('aria-current');
    document.title = document.querySelector('h1')?.textContent + ' · citygate';
}

function showConn() {
    fill(conn, tel('span', model.connected ? 'conn_live' : 'conn_lost', [], { class: model.connected ? 'ok' : 'lost' }));
}

model.listeners.add((what, detail) => {
    if (what === 'conn')
        showConn();
    if (what === 'reset') {
        route();
        return;
    }
    if (document.hidden) {
        pending.add(what);
        return;
    }
    view?.update(what, detail);
});

document.addEventListener('visibilitychange', () => {
    if (document.hidden)
        return;
    for (const what of pending)
        view?.update(what);
    pending.clear();
});

langSelect.value = current();
langSelect.addEventListener('change', () => {
    choose(langSelect.value);
    apply();
    const key = routeKey;
    route();
    routeKey = key;
});

window.addEventListener('hashchange', route);
apply();
fill(conn, tel('span', 'conn_wait'));
route();
start();
