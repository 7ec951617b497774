/*
 * source.js -- keeps the model fed from the gateway's event stream,
 * /api/v1/events (docs/live.md, "API").
 *
 * The snapshot replaces what the page held (windows of the last hour, nodes,
 * open alerts, the site figures of /api/v1/live); then each event is applied
 * as it comes. The browser's EventSource reconnects by itself with
 * Last-Event-ID, so the gateway replays what was missed, or sends a fresh
 * snapshot when it cannot. Site figures merge the lanes' sketches in the
 * gateway, so after the windows of a new period the page reads
 * /api/v1/live once (one read in flight at most); that read is also what
 * ages a silent node, every base window.
 */
import { addWindow, model, resetModel, setAlert, setConnected, setCounters, setLive, setNodes } from './model.js';

let reading = null;
let again = false;

/* Reads /api/v1/live once; a call while a read is in flight makes one more read after it. */
async function readLive() {
    if (reading) {
        again = true;
        return;
    }
    reading = (async () => {
        try {
            const r = await fetch('api/v1/live', { cache: 'no-store' });
            if (r.ok)
                setLive(await r.json());
        } catch {
            /* the stream's state says whether the gateway is reachable */
        }
    })();
    await reading;
    reading = null;
    if (again) {
        again = false;
        readLive();
    }
}

function on(source, type, fn) {
    source.addEventListener(type, e => fn(JSON.parse(e.data)));
}

export function start() {
    const source = new EventSource('api/v1/events');
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    on(source, 'snapshot', s => {
        resetModel();
        setNodes(s.nodes);
        if (s.live)
            setLive(s.live);
        for (const w of s.windows)
            addWindow(w);
        for (const a of s.alerts)
            setAlert(a, false);
        setConnected(true);
    });
    on(source, 'window', w => {
        addWindow(w);
        readLive();
    });
    on(source, 'alert', a => setAlert(a, true));
    on(source, 'node', n => setNodes([n]));
    on(source, 'counters', setCounters);
    /* Without windows (a silent fleet) the site and node ages still move on. */
    setInterval(() => {
        if (model.connected)
            readLive();
    }, 5000);
}
