/*
 * alerts.js -- the open alerts (severity, series, since when, value,
 * acknowledged or not) with an Acknowledge button each, and the recent
 * changes.
 *
 * Acknowledging sends POST api/v1/alerts/<id>/ack with the operator token
 * as a Bearer credential. The token is typed once and kept in
 * sessionStorage, so it stays in this tab; the gateway decides, and its
 * refusal is shown as it came.
 *
 * In an alert storm events come many a second: an open alert's row is drawn
 * again only when its alert changed (each event is a new object), and a
 * change joins the recent list as one new row.
 */
import { el, fill, num, syncRows, tel, time, val } from './dom.js';
import { model } from './model.js';

const TOKEN_KEY = 'citygate.token';
const HISTORY_ROWS = 50;

/* The series an alert is about, as one line of text. */
function seriesText(a) {
    return `${a.site} / ${a.node} · ${a.quantity} · ${a.lane} · ${a.rule}`;
}

function severity(level) {
    const key = level === 'crit' ? 'sev_crit' : level === 'warn' ? 'sev_warn' : 'sev_ok';
    return tel('span', key, [], { class: 'state sev-' + (level === 'crit' || level === 'warn' ? level : 'ok') });
}

export class Alerts {
    mount(main) {
        this.token = el('input', { id: 'token', type: 'password', autocomplete: 'off', 'aria-describedby': 'token-help' });
        this.token.value = sessionStorage.getItem(TOKEN_KEY) || '';
        this.token.addEventListener('change', () => sessionStorage.setItem(TOKEN_KEY, this.token.value));
        this.message = el('p', { id: 'ack-message', class: 'message', role: 'status', 'aria-live': 'polite' });
        this.open = el('tbody');
        this.openRows = new Map(); /* alert id -> {tr, alert} */
        this.historyTop = null; /* the newest change shown */
        this.noneOpen = tel('p', 'alerts_none', [], { class: 'empty' });
        this.history = el('tbody');
        this.noneHistory = tel('p', 'history_empty', [], { class: 'empty' });
        const th = k => tel('th', k, [], { scope: 'col' });
        this.openTable = el('table', { id: 'alerts-open' }, tel('caption', 'alerts_open'),
            el('thead', {}, el('tr', {}, ...['col_severity', 'col_series', 'col_since', 'col_value', 'col_ack', 'col_action'].map(th))), this.open);
        this.historyTable = el('table', { id: 'alerts-history' }, tel('caption', 'alerts_history'),
            el('thead', {}, el('tr', {}, ...['col_when', 'col_series', 'col_change', 'col_value'].map(th))), this.history);
        fill(main, tel('h1', 'alerts_h'),
            el('div', { class: 'token' }, tel('label', 'token_label', [], { for: 'token' }), this.token),
            tel('p', 'token_help', [], { id: 'token-help', class: 'empty' }), this.message,
            tel('h2', 'alerts_open'), this.noneOpen, el('div', { class: 'scroll' }, this.openTable),
            tel('h2', 'alerts_history'), this.noneHistory, el('div', { class: 'scroll' }, this.historyTable));
        this.update('alerts');
    }

    update(what) {
        if (what !== 'alerts')
            return;
        const open = [...model.alerts.values()].sort((a, b) => (b.changed_ms ?? 0) - (a.changed_ms ?? 0));
        this.noneOpen.hidden = open.length > 0;
        this.openTable.hidden = open.length === 0;
        syncRows(this.open, this.openRows, open.map(a => a.id), key => {
            const alert = model.alerts.get(key);
            return { tr: this.openRow(alert), alert };
        }, (row, key) => {
            const alert = model.alerts.get(key);
            if (row.alert === alert)
                return;
            const tr = this.openRow(alert);
            row.tr.replaceWith(tr);
            Object.assign(row, { tr, alert });
        });
        /* The changes since the newest one shown, newest first, go on top. */
        const hist = model.alertHistory;
        const fresh = [];
        for (let i = hist.length - 1; i >= 0 && hist[i] !== this.historyTop && fresh.length < HISTORY_ROWS; i--)
            fresh.push(hist[i]);
        if (fresh.length) {
            this.historyTop = fresh[0];
            this.history.prepend(...fresh.map(a => el('tr', {}, el('th', { scope: 'row' }, time(a.changed_ms)),
                val('td', seriesText(a)), el('td', {}, severity(a.previous), ' → ', severity(a.state)),
                el('td', { class: 'num' }, num(a.value, 1)))));
            while (this.history.childElementCount > HISTORY_ROWS)
                this.history.lastElementChild.remove();
        }
        this.noneHistory.hidden = hist.length > 0;
        this.historyTable.hidden = hist.length === 0;
    }

    openRow(a) {
        const id = a.id;
        const acked = Number.isFinite(a.acked_ms);
        const button = acked ? null : tel('button', 'ack', [], { type: 'button', 'data-alert': id });
        button?.addEventListener('click', () => this.ack(id));
        return el('tr', { 'data-alert': id, 'data-state': a.state, 'data-acked': String(acked) },
            el('td', {}, severity(a.state)), val('th', seriesText(a), { scope: 'row' }),
            el('td', {}, time(a.changed_ms)), el('td', { class: 'num' }, num(a.value, 1)),
            el('td', {}, tel('span', acked ? 'ack_done' : 'ack_no')), el('td', {}, button));
    }

    async ack(id) {
        sessionStorage.setItem(TOKEN_KEY, this.token.value);
        let status;
        try {
            const r = await fetch('api/v1/alerts/' + encodeURIComponent(id) + '/ack', {
                method: 'POST',
                headers: this.token.value ? { Authorization: 'Bearer ' + this.token.value } : {},
            });
            status = r.ok ? 0 : r.status;
        } catch (e) {
            status = String(e.message || e);
        }
        fill(this.message, status === 0 ? tel('span', 'ack_ok', [id]) : tel('span', 'ack_refused', [status], { class: 'error' }));
    }
}
