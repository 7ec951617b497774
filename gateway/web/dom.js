/*
 * dom.js -- building elements and showing values, the only way the page
 * writes to the document.
 *
 * Text goes in with textContent, never innerHTML, so a site or node id that
 * holds markup shows as text. A missing value is shown as "—", never as 0.
 */
import { locale, t } from './i18n.js';

export const MISSING = '—';

/* A new element: attrs are attributes (class, href, ...), children strings or nodes. */
export function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs))
        if (v !== undefined && v !== null)
            e.setAttribute(k, v);
    for (const c of children)
        if (c !== null && c !== undefined)
            e.append(c);
    return e;
}

/* An element whose text is the table's key, kept translated by i18n.apply(). */
export function tel(tag, key, args = [], attrs = {}) {
    const e = el(tag, attrs, t(key, ...args));
    e.dataset.i18n = key;
    if (args.length)
        e.dataset.i18nArgs = JSON.stringify(args);
    return e;
}

/*
 * An element holding text that comes from the gateway as it is (an id, a
 * firmware version, a rule or quantity name): marked data-value, never
 * translated.
 */
export function val(tag, text, attrs = {}) {
    return el(tag, { ...attrs, 'data-value': '' }, text);
}

/* Sets e's text when it differs, so an unchanged value costs no layout. */
export function setText(e, text) {
    if (e.textContent !== text)
        e.textContent = text;
}

const numberFormats = new Map();

/* v with `digits` decimals in the page's language, or "—" when v is null or not finite. */
export function num(v, digits = 0) {
    if (v === null || v === undefined || !Number.isFinite(v))
        return MISSING;
    const key = locale() + digits;
    if (!numberFormats.has(key))
        numberFormats.set(key, new Intl.NumberFormat(locale(), {
            minimumFractionDigits: digits,
            maximumFractionDigits: digits,
        }));
    return numberFormats.get(key).format(v);
}

/* The local time of ms (HH:MM:SS), or "—". */
export function time(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms))
        return MISSING;
    return new Date(ms).toLocaleTimeString(locale(), { hour12: false });
}

/*
 * Keeps the rows of tbody one per key, in the order of keys. rows maps a key
 * to its row ({tr, ...}): a row is made once (make(key)), moved only when it
 * is out of place, filled every time (fillRow(row, key)) so that only the
 * cells whose text changed are written, and removed with its key.
 */
export function syncRows(tbody, rows, keys, make, fillRow) {
    const wanted = new Set(keys);
    for (const [key, row] of rows)
        if (!wanted.has(key)) {
            row.tr.remove();
            rows.delete(key);
        }
    let prev = null;
    for (const key of keys) {
        let row = rows.get(key);
        if (!row) {
            row = make(key);
            rows.set(key, row);
        }
        if (row.tr.previousSibling !== prev || (!prev && tbody.firstChild !== row.tr))
            tbody.insertBefore(row.tr, prev ? prev.nextSibling : tbody.firstChild);
        fillRow(row, key);
        prev = row.tr;
    }
}

/* Replaces every child of parent with the given nodes. */
export function fill(parent, ...children) {
    parent.replaceChildren(...children.filter(c => c !== null && c !== undefined));
}
