/*
 * site.js -- one site: its state and figures, then per lane the last hour of
 * closed windows as sparklines (flow, mean speed, occupancy, v85, vehicles by
 * class), each with a table of the same numbers.
 *
 * A chart is made once per lane and figure and is given new data only when
 * its lane's ring took a window (Ring.version), so a lane that did not change
 * is not redrawn. A table is filled only while its <details> is open.
 */
import { el, fill, num, setText, tel, time, val } from './dom.js';
import { LANE_FIGURES, model, siteState } from './model.js';
import { stateBadge } from './overview.js';

const CHART = { width: 240, height: 64 };
const TITLES = { flow_vph: 'chart_flow', speed_mean_kmh: 'chart_speed', occupancy_pct: 'chart_occ', v85_kmh: 'chart_v85' };
const DIGITS = { flow_vph: 0, speed_mean_kmh: 1, occupancy_pct: 1, v85_kmh: 1 };
const COLOURS = ['#0b57a4', '#8a1111', '#0d5a1d', '#6b4a00', '#5b2a86', '#1a1a1a'];

function sparkline(target, series) {
    return new window.uPlot({
        ...CHART,
        cursor: { show: false },
        legend: { show: false },
        select: { show: false },
        scales: { x: { time: true } },
        axes: [{ show: false }, { show: false }],
        series: [{}, ...series.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false }))],
    }, [[], ...series.map(() => [])], target);
}

class Lane {
    constructor(key, ring) {
        const [, node, lane] = key.split('\x1f');
        this.key = key;
        this.ring = ring;
        this.version = -1;
        this.classes = Object.keys(ring.cols).filter(c => c.startsWith('class_'));
        this.charts = [];
        const figures = el('div', { class: 'charts' });
        for (const f of LANE_FIGURES)
            figures.append(this.figure(f, TITLES[f], [f]));
        if (this.classes.length)
            figures.append(this.figure('classes', 'chart_classes', this.classes));
        this.tableBox = el('div', { class: 'scroll' });
        this.details = el('details', {}, tel('summary', 'chart_table'), this.tableBox);
        this.details.addEventListener('toggle', () => this.fillTable());
        this.section = el('section', { class: 'lane', 'data-lane': key },
            el('h2', {}, tel('span', 'lane', [lane]), ' · ', val('span', node)), figures, this.details);
    }

    figure(id, titleKey, fields) {
        const box = el('div', { 'aria-hidden': 'true' });
        const latest = el('span', { class: 'latest', 'data-figure': id });
        const fig = el('figure', { class: 'chart' }, el('figcaption', {}, tel('span', titleKey), ': ', latest), box);
        this.charts.push({ id, fields, box, latest, plot: null });
        return fig;
    }

    update() {
        if (this.ring.version === this.version)
            return;
        this.version = this.ring.version;
        const data = this.ring.series([...LANE_FIGURES, ...this.classes]);
        for (const c of this.charts) {
            if (!c.plot)
                c.plot = sparkline(c.box, c.fields);
            c.plot.setData([data.t, ...c.fields.map(f => data[f])]);
            const last = data.t.length - 1;
            if (c.id === 'classes')
                fill(c.latest, ...this.classes.flatMap((f, i) =>
                    [i ? ', ' : null, tel('span', f), ' ', num(last >= 0 ? data[f][last] : null, 0)]));
            else
                setText(c.latest, num(last >= 0 ? data[c.id][last] : null, DIGITS[c.id]));
        }
        this.fillTable(data);
    }

    fillTable(data) {
        if (!this.details.open)
            return;
        data ??= this.ring.series([...LANE_FIGURES, ...this.classes]);
        const head = el('tr', {}, tel('th', 'col_time', [], { scope: 'col' }),
            ...LANE_FIGURES.map(f => tel('th', TITLES[f], [], { scope: 'col' })),
            ...this.classes.map(c => tel('th', c, [], { scope: 'col' })));
        const rows = [];
        for (let i = data.t.length - 1; i >= 0; i--)
            rows.push(el('tr', {}, el('th', { scope: 'row' }, time(data.t[i] * 1000)),
                ...[...LANE_FIGURES, ...this.classes].map(f => el('td', { class: 'num' }, num(data[f][i], DIGITS[f] ?? 0)))));
        fill(this.tableBox, el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
    }

    destroy() {
        for (const c of this.charts)
            c.plot?.destroy();
    }
}

export class Site {
    constructor(id) {
        this.id = id;
    }

    mount(main) {
        this.lanes = new Map();
        this.state = el('p', { class: 'site-state' });
        this.figures = el('p', { class: 'site-figures' });
        this.none = tel('p', 'history_none', [], { class: 'empty' });
        this.box = el('div');
        fill(main, el('p', {}, el('a', { href: '#/overview' }, tel('span', 'site_back'))),
            el('h1', {}, tel('span', 'site_h', [this.id])), this.state, this.figures, this.none, this.box);
        this.update('sites');
        this.update('lanes');
    }

    unmount() {
        for (const l of this.lanes.values())
            l.destroy();
    }

    update(what) {
        if (what === 'sites') {
            const s = model.sites.get(this.id);
            if (!s) {
                fill(this.state, tel('span', 'site_unknown', [this.id]));
                fill(this.figures);
                return;
            }
            fill(this.state, stateBadge(siteState(s)), ' ', time(s.window_start_ms));
            fill(this.figures, tel('span', 'col_flow'), ' ', num(s.flow_vph, 0), ' · ',
                tel('span', 'col_speed'), ' ', num(s.speed_mean_kmh, 1), ' · ',
                tel('span', 'col_v85'), ' ', num(s.v85_kmh, 1), ' · ',
                tel('span', 'col_occ'), ' ', num(s.occupancy_pct, 1));
        } else if (what === 'lanes') {
            const prefix = this.id + '\x1f';
            const keys = [...model.lanes.keys()].filter(k => k.startsWith(prefix)).sort();
            for (const k of keys)
                if (!this.lanes.has(k)) {
                    const lane = new Lane(k, model.lanes.get(k));
                    this.lanes.set(k, lane);
                    this.box.append(lane.section);
                }
            this.none.hidden = keys.length > 0;
            for (const l of this.lanes.values())
                l.update();
        }
    }
}
