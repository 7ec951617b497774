/*
 * source.js -- keeps the model fed from the gateway.
 *
 * Reads /api/v1/live once a second (the newest window per site and its
 * nodes). A failed read marks the page as disconnected and is retried on the
 * next tick; nothing read earlier is dropped.
 */
import { setConnected, setLive } from './model.js';

const PERIOD_MS = 1000;

async function readLive() {
    try {
        const r = await fetch('api/v1/live', { cache: 'no-store' });
        if (!r.ok)
            throw new Error('HTTP ' + r.status);
        setLive(await r.json());
        setConnected(true);
    } catch (e) {
        setConnected(false);
    }
}

export function start() {
    const tick = async () => {
        await readLive();
        setTimeout(tick, PERIOD_MS);
    };
    tick();
}
