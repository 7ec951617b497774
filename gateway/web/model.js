/*
 * model.js -- what the page knows: the newest figures per site, the last hour
 * of closed windows per lane, the alerts and the nodes.
 *
 * The stream (source.js) writes here; views read here and are told which
 * parts changed, so a view redraws only those. Each lane's history lives in
 * fixed-size ring buffers (one Float64Array per figure, NaN for a missing
 * value), so a page that runs for days holds the same memory on day three as
 * after the first hour.
 */

const HOUR_MS = 3600 * 1000;
const MAX_POINTS = 720; /* an hour of 5 s windows; 120 for the default 30 s */

/* The figures a lane keeps per window, in the order of the site view's charts. */
export const LANE_FIGURES = ['flow_vph', 'speed_mean_kmh', 'occupancy_pct', 'v85_kmh'];

/* A lane's last hour: time and one column per figure, oldest first once full. */
export class Ring {
    constructor(capacity, classes) {
        this.capacity = capacity;
        this.n = 0;
        this.head = 0; /* the slot the next window goes to */
        this.t = new Float64Array(capacity);
        this.cols = {};
        for (const f of [...LANE_FIGURES, ...classes])
            this.cols[f] = new Float64Array(capacity).fill(NaN);
        this.version = 0;
    }

    /* Adds the window starting at start_ms, or overwrites it when it is already held. */
    add(start_ms, values) {
        let slot = -1;
        for (let i = 0; i < this.n; i++) {
            const s = (this.head - 1 - i + this.capacity) % this.capacity;
            if (this.t[s] === start_ms) {
                slot = s;
                break;
            }
            if (this.t[s] < start_ms)
                break;
        }
        if (slot < 0) {
            if (this.n && start_ms < this.t[(this.head - 1 + this.capacity) % this.capacity])
                return false; /* older than the newest and not held: outside the hour */
            slot = this.head;
            this.head = (this.head + 1) % this.capacity;
            this.n = Math.min(this.n + 1, this.capacity);
        }
        this.t[slot] = start_ms;
        for (const [f, col] of Object.entries(this.cols)) {
            const v = values[f];
            col[slot] = v === null || v === undefined ? NaN : v;
        }
        this.version++;
        return true;
    }

    /* The held windows, oldest first, as plain arrays (seconds for uPlot's x axis). */
    series(fields) {
        const out = { t: new Array(this.n) };
        for (const f of fields)
            out[f] = new Array(this.n);
        const first = (this.head - this.n + this.capacity) % this.capacity;
        for (let i = 0; i < this.n; i++) {
            const s = (first + i) % this.capacity;
            out.t[i] = this.t[s] / 1000;
            for (const f of fields)
                out[f][i] = Number.isNaN(this.cols[f][s]) ? null : this.cols[f][s];
        }
        return out;
    }

    /* The start times held, oldest first. */
    starts() {
        return this.series([]).t.map(s => s * 1000);
    }
}

export const model = {
    sites: new Map(), /* site id -> the site's object of /api/v1/live */
    lanes: new Map(), /* site \x1f node \x1f lane -> Ring */
    alerts: new Map(), /* alert id -> alert */
    alertHistory: [], /* newest last, bounded */
    nodes: new Map(), /* site \x1f node -> node */
    siteOf: new Map(), /* node -> its site */
    connected: false,
    listeners: new Set(),
};

const HISTORY_MAX = 200;

/* Tells every listener which part changed: 'sites', 'lanes', 'alerts', 'nodes', 'conn'. */
export function changed(what, detail) {
    for (const fn of model.listeners)
        fn(what, detail);
}

export function setConnected(on) {
    if (model.connected !== on) {
        model.connected = on;
        changed('conn');
    }
}

/* Forgets everything, before a snapshot. */
export function resetModel() {
    model.sites.clear();
    model.lanes.clear();
    model.alerts.clear();
    model.nodes.clear();
    model.siteOf.clear();
    changed('reset');
}

/*
 * Merges one node's fields (a node event, or an entry of a live view's node
 * list) into what is known, in place: a counters event may hold thousands.
 */
function mergeNode(n) {
    const key = n.site + '\x1f' + n.node;
    const known = model.nodes.get(key);
    if (known)
        Object.assign(known, n);
    else
        model.nodes.set(key, { ...n });
    model.siteOf.set(n.node, n.site);
}

/* Takes node objects (a node event's, a snapshot's or a counters event's), then tells the views once. */
export function setNodes(list) {
    for (const n of list)
        mergeNode(n);
    if (list.length)
        changed('nodes');
}

/*
 * Takes a counters event's nodes (docs/live.md, "API"): whole node objects,
 * and [node, ms before now_ms, frames] of the nodes whose only news is a
 * frame, which are known already (from the snapshot: node ids are unique).
 */
export function setCounters(c) {
    const seen = [];
    for (const [node, ago_ms, frames] of c.seen) {
        const site = model.siteOf.get(node);
        if (site !== undefined)
            seen.push({ site, node, last_seen_ms: c.now_ms - ago_ms, frames });
    }
    setNodes([...c.nodes, ...seen]);
}

/* Takes the sites of a live view ({sites: [...]}); the node list feeds the nodes. */
export function setLive(live) {
    const seen = new Set();
    for (const s of live.sites) {
        seen.add(s.site);
        model.sites.set(s.site, s);
        for (const n of s.node_list)
            mergeNode({ site: s.site, ...n });
    }
    for (const id of [...model.sites.keys()])
        if (!seen.has(id))
            model.sites.delete(id);
    changed('sites');
    changed('nodes');
}

/* The classes a lane's ring keeps a column for: every VehicleClass, and any other its first window has. */
const CLASSES = ['CAR', 'MOTORCYCLE', 'VAN', 'TRUCK', 'BUS', 'BICYCLE']; /* VehicleClass, schemas/frame.proto */

/*
 * Adds one closed lane window (docs/live.md, "API": the window event, which
 * always has window_ms and by_class, a class without vehicles left out).
 */
export function addWindow(w) {
    const key = w.site + '\x1f' + w.node + '\x1f' + w.lane;
    let ring = model.lanes.get(key);
    if (!ring) {
        const classes = [...new Set([...CLASSES, ...Object.keys(w.by_class)])].map(c => 'class_' + c);
        ring = new Ring(Math.min(MAX_POINTS, Math.ceil(HOUR_MS / w.window_ms)), classes);
        model.lanes.set(key, ring);
    }
    const values = { ...w };
    for (const c of Object.keys(ring.cols))
        if (c.startsWith('class_'))
            values[c] = w.by_class[c.slice(6)] ?? 0;
    if (ring.add(w.start_ms, values))
        changed('lanes', key);
}

/*
 * Sets one alert's state, by its id (which every alert the gateway sends
 * has); a cleared one leaves the open list. A change (not a snapshot's) joins
 * the history.
 */
export function setAlert(a, isChange) {
    if (a.state === 'ok')
        model.alerts.delete(a.id);
    else
        model.alerts.set(a.id, a);
    if (isChange) {
        model.alertHistory.push(a);
        if (model.alertHistory.length > HISTORY_MAX)
            model.alertHistory.splice(0, model.alertHistory.length - HISTORY_MAX);
    }
    changed('alerts');
}

/*
 * The state of a site from its figures and its free-flow speed (free_flow_kmh,
 * which the gateway sends for every site: the registry's, else its default).
 */
export function siteState(s) {
    if (!s || s.window_start_ms === null)
        return 'nodata';
    if (s.stale)
        return 'stale';
    if (s.speed_mean_kmh === null)
        return s.flow_vph === 0 ? 'novehicles' : 'nodata';
    const r = s.speed_mean_kmh / s.free_flow_kmh;
    return r >= 0.75 ? 'free' : r >= 0.5 ? 'slow' : 'congested';
}
