/*
 * nodes.js -- every node the gateway knows: health, last window, birth or
 * death, firmware, backlog, ring drops, refused frames by reason, sequence
 * gaps.
 *
 * Health: reporting; amber ("late") once two windows are missed; red when
 * the node is dead (its death message) or silent past the absence timeout.
 * Like the site states, each is a word and a shape beside its colour.
 */
import { el, fill, num, setText, syncRows, tel, time, val, MISSING } from './dom.js';
import { model } from './model.js';

const COLUMNS = ['col_node', 'col_site', 'col_health', 'col_last', 'col_birth', 'col_fw',
    'col_backlog', 'col_ring', 'col_refused', 'col_gaps'];

/* ok, late or dead, from the node's fields. */
export function health(n) {
    if (n.dead || n.silent)
        return 'dead';
    return n.stale ? 'late' : 'ok';
}

/* "reason: count, ..." of a node's refused frames, or "—". */
function refused(r) {
    const parts = Object.entries(r || {}).filter(([, v]) => v > 0).map(([k, v]) => `${k}: ${num(v, 0)}`);
    return parts.length ? parts.join(', ') : MISSING;
}

export class Nodes {
    mount(main) {
        this.rows = new Map();
        this.tbody = el('tbody');
        this.empty = tel('p', 'no_nodes', [], { class: 'empty' });
        const head = el('tr', {}, ...COLUMNS.map(k => tel('th', k, [], { scope: 'col' })));
        this.table = el('table', { id: 'nodes' }, tel('caption', 'nodes_caption'), el('thead', {}, head), this.tbody);
        fill(main, tel('h1', 'nodes_h'), this.empty, el('div', { class: 'scroll' }, this.table));
        this.update('nodes');
    }

    update(what) {
        if (what !== 'nodes')
            return;
        const keys = [...model.nodes.keys()].sort();
        this.empty.hidden = keys.length > 0;
        this.table.hidden = keys.length === 0;
        syncRows(this.tbody, this.rows, keys, key => this.makeRow(model.nodes.get(key)),
            (row, key) => this.fillRow(row, model.nodes.get(key)));
    }

    makeRow(n) {
        const cells = {};
        const tr = el('tr', { 'data-node': n.node, 'data-site': n.site }, val('th', n.node, { scope: 'row' }));
        for (const f of ['site', 'health', 'last', 'birth', 'fw', 'backlog', 'ring', 'refused', 'gaps']) {
            cells[f] = el('td', { 'data-field': f, class: ['backlog', 'ring', 'gaps'].includes(f) ? 'num' : '' });
            if (['site', 'fw', 'refused'].includes(f))
                cells[f].dataset.value = '';
            tr.append(cells[f]);
        }
        setText(cells.site, n.site);
        return { tr, cells, health: null, life: null };
    }

    fillRow(row, n) {
        const h = health(n);
        if (row.health !== h) {
            fill(row.cells.health, tel('span', 'health_' + h, [], { class: 'state health-' + h }));
            row.tr.dataset.health = h;
            row.health = h;
        }
        const lifeText = n.dead ? 'dead ' + time(n.death_ms ?? n.stale_since_ms) : 'alive ' + time(n.birth_ms);
        if (row.life !== lifeText) {
            fill(row.cells.birth, n.dead ? tel('span', 'dead', [time(n.death_ms ?? n.stale_since_ms)])
                : tel('span', 'alive', [time(n.birth_ms)]));
            row.life = lifeText;
        }
        setText(row.cells.last, time(n.window_start_ms));
        setText(row.cells.fw, n.firmware ?? MISSING);
        setText(row.cells.backlog, num(n.backlog_frames, 0));
        setText(row.cells.ring, num(n.ring_dropped, 0));
        setText(row.cells.refused, refused(n.refused));
        setText(row.cells.gaps, num(n.gaps, 0));
    }
}
