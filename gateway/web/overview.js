/*
 * overview.js -- every site in one table: state, flow, mean speed, v85,
 * occupancy, fresh nodes, window.
 *
 * Rows are made once per site and then only the cells whose text changed
 * are written. The state is a word and a shape beside its colour, so it
 * never rests on colour alone.
 */
import { el, fill, num, setText, syncRows, tel, time, val } from './dom.js';
import { model, siteState } from './model.js';

const COLUMNS = ['col_site', 'col_state', 'col_flow', 'col_speed', 'col_v85', 'col_occ', 'col_nodes', 'col_window'];

export function stateBadge(state) {
    return tel('span', 'state_' + state, [], { class: 'state state-' + state, 'data-state': state });
}

export function legend() {
    const items = ['free', 'slow', 'congested', 'nodata'].map(s =>
        el('li', {}, stateBadge(s), ' ', tel('span', 'legend_' + s)));
    return el('section', { class: 'legend', 'aria-labelledby': 'legend-h' },
        tel('h2', 'legend_h', [], { id: 'legend-h' }), el('ul', {}, ...items));
}

export class Overview {
    mount(main) {
        this.rows = new Map();
        this.tbody = el('tbody');
        this.empty = tel('p', 'no_sites', [], { class: 'empty' });
        const head = el('tr', {}, ...COLUMNS.map(k => tel('th', k, [], { scope: 'col' })));
        this.table = el('table', { id: 'overview' }, tel('caption', 'overview_caption'), el('thead', {}, head), this.tbody);
        fill(main, tel('h1', 'overview_h'), this.empty, el('div', { class: 'scroll' }, this.table), legend());
        this.update('sites');
    }

    update(what) {
        if (what !== 'sites')
            return;
        const ids = [...model.sites.keys()].sort();
        this.empty.hidden = ids.length > 0;
        this.table.hidden = ids.length === 0;
        syncRows(this.tbody, this.rows, ids, id => this.makeRow(id), (row, id) => this.fillRow(row, model.sites.get(id)));
    }

    makeRow(id) {
        const link = val('a', id, { href: '#/site/' + encodeURIComponent(id) });
        const cells = {};
        const tr = el('tr', { 'data-site': id }, el('th', { scope: 'row' }, link));
        for (const f of ['state', 'flow', 'speed', 'v85', 'occ', 'nodes', 'window']) {
            cells[f] = el('td', { 'data-field': f, class: f === 'state' ? '' : 'num' });
            tr.append(cells[f]);
        }
        return { tr, cells, state: null };
    }

    fillRow(row, s) {
        const state = siteState(s);
        if (row.state !== state) {
            fill(row.cells.state, stateBadge(state));
            row.tr.dataset.state = state;
            row.state = state;
        }
        row.tr.dataset.window = s.window_start_ms ?? '';
        setText(row.cells.flow, num(s.flow_vph, 0));
        setText(row.cells.speed, num(s.speed_mean_kmh, 1));
        setText(row.cells.v85, num(s.v85_kmh, 1));
        setText(row.cells.occ, num(s.occupancy_pct, 1));
        setText(row.cells.nodes, num(s.nodes_fresh, 0) + ' / ' + num(s.nodes, 0));
        setText(row.cells.window, time(s.window_start_ms));
    }
}
