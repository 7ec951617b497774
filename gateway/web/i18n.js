/*
 * i18n.js -- every string the page shows, in English and Spanish, in one table.
 *
 * The language comes from the browser's preferences unless the reader chose
 * one with the switch (kept in localStorage). Elements with data-i18n="key"
 * are filled from the table by apply(); code that builds elements calls t().
 * Values (site ids, numbers) never pass through here.
 */
const TEXT = {
    en: {
        title: 'citygate live',
        skip: 'Skip to content',
        nav_label: 'Views',
        nav_overview: 'Overview',
        nav_alerts: 'Alerts',
        nav_nodes: 'Nodes',
        language: 'Language',
        conn_live: 'Live',
        conn_lost: 'Connection lost, reconnecting…',
        conn_wait: 'Connecting…',
        updated: 'Updated {0}',
        overview_h: 'Overview: every site',
        overview_caption: 'Newest closed window per site',
        col_site: 'Site',
        col_state: 'State',
        col_flow: 'Flow (veh/h)',
        col_speed: 'Mean speed (km/h)',
        col_v85: 'v85 (km/h)',
        col_occ: 'Occupancy (%)',
        col_nodes: 'Nodes fresh / all',
        col_window: 'Window start',
        state_free: 'Free flow',
        state_slow: 'Slow',
        state_congested: 'Congested',
        state_nodata: 'No data',
        state_novehicles: 'No vehicles',
        state_stale: 'Stale, suspect',
        legend_h: 'What the states mean',
        legend_free: 'mean speed at least 75 % of free-flow speed',
        legend_slow: '50 % to 75 % of free-flow speed',
        legend_congested: 'under 50 % of free-flow speed',
        legend_nodata: 'no vehicles, no data, or every node stale: figures show —',
        no_sites: 'No site has reported yet.',
        site_h: 'Site {0}',
        site_back: 'Back to the overview',
        site_unknown: 'Site {0} is not known to the gateway.',
        lane: 'Lane {0}',
        chart_flow: 'Flow (veh/h)',
        chart_speed: 'Mean speed (km/h)',
        chart_occ: 'Occupancy (%)',
        chart_v85: 'v85 (km/h)',
        chart_classes: 'Vehicles by class',
        chart_table: 'Table of the last hour',
        class_CAR: 'Cars',
        class_MOTORCYCLE: 'Motorcycles',
        class_VAN: 'Vans',
        class_TRUCK: 'Trucks',
        class_BUS: 'Buses',
        class_BICYCLE: 'Bicycles',
        col_time: 'Window start',
        history_none: 'No closed window in the last hour yet.',
        alerts_h: 'Alerts',
        alerts_open: 'Open alerts',
        alerts_history: 'Recent history',
        alerts_none: 'No open alert.',
        history_empty: 'Nothing happened yet.',
        col_severity: 'Severity',
        col_series: 'Series',
        col_since: 'Since',
        col_value: 'Value',
        col_ack: 'Acknowledged',
        col_action: 'Action',
        col_change: 'Change',
        col_when: 'When',
        sev_warn: 'Warning',
        sev_crit: 'Critical',
        sev_ok: 'Cleared',
        ack: 'Acknowledge',
        ack_done: 'Acknowledged',
        ack_no: 'Not yet',
        token_label: 'Operator token',
        token_help: 'Acknowledging needs the operator token from the gateway configuration. It stays in this tab only.',
        ack_refused: 'The gateway refused the acknowledgement ({0}).',
        ack_ok: 'Alert {0} acknowledged.',
        nodes_h: 'Nodes',
        nodes_caption: 'Every node the gateway knows',
        col_node: 'Node',
        col_health: 'Health',
        col_last: 'Last window',
        col_birth: 'Birth / death',
        col_fw: 'Firmware',
        col_backlog: 'Backlog',
        col_ring: 'Ring drops',
        col_refused: 'Refused frames',
        col_gaps: 'Sequence gaps',
        health_ok: 'Reporting',
        health_late: 'Late: two windows missed',
        health_dead: 'Dead or silent',
        alive: 'Born {0}',
        dead: 'Dead since {0}',
        no_nodes: 'No node has reported yet.',
    },
    es: {
        title: 'citygate en vivo',
        skip: 'Ir al contenido',
        nav_label: 'Vistas',
        nav_overview: 'Resumen',
        nav_alerts: 'Alertas',
        nav_nodes: 'Nodos',
        language: 'Idioma',
        conn_live: 'En directo',
        conn_lost: 'Conexión perdida, reconectando…',
        conn_wait: 'Conectando…',
        updated: 'Actualizado {0}',
        overview_h: 'Resumen: todos los puntos de medida',
        overview_caption: 'Última ventana cerrada por punto',
        col_site: 'Punto',
        col_state: 'Estado',
        col_flow: 'Intensidad (veh./h)',
        col_speed: 'Velocidad media (km/h)',
        col_v85: 'V85 (km/h)',
        col_occ: 'Ocupación (%)',
        col_nodes: 'Nodos al día / todos',
        col_window: 'Inicio de ventana',
        state_free: 'Fluido',
        state_slow: 'Lento',
        state_congested: 'Congestionado',
        state_nodata: 'Sin datos',
        state_novehicles: 'Sin vehículos',
        state_stale: 'Desfasado, dudoso',
        legend_h: 'Qué significan los estados',
        legend_free: 'velocidad media de al menos el 75 % de la velocidad libre',
        legend_slow: 'entre el 50 % y el 75 % de la velocidad libre',
        legend_congested: 'por debajo del 50 % de la velocidad libre',
        legend_nodata: 'sin vehículos, sin datos o con todos los nodos desfasados: las cifras muestran —',
        no_sites: 'Ningún punto ha informado todavía.',
        site_h: 'Punto {0}',
        site_back: 'Volver al resumen',
        site_unknown: 'La pasarela no conoce el punto {0}.',
        lane: 'Carril {0}',
        chart_flow: 'Intensidad (veh./h)',
        chart_speed: 'Velocidad media (km/h)',
        chart_occ: 'Ocupación (%)',
        chart_v85: 'V85 (km/h)',
        chart_classes: 'Vehículos por clase',
        chart_table: 'Tabla de la última hora',
        class_CAR: 'Turismos',
        class_MOTORCYCLE: 'Motocicletas',
        class_VAN: 'Furgonetas',
        class_TRUCK: 'Camiones',
        class_BUS: 'Autobuses',
        class_BICYCLE: 'Bicicletas',
        col_time: 'Inicio de ventana',
        history_none: 'Aún no hay ventanas cerradas en la última hora.',
        alerts_h: 'Alertas',
        alerts_open: 'Alertas abiertas',
        alerts_history: 'Historial reciente',
        alerts_none: 'Ninguna alerta abierta.',
        history_empty: 'Todavía no ha pasado nada.',
        col_severity: 'Gravedad',
        col_series: 'Serie',
        col_since: 'Desde',
        col_value: 'Valor',
        col_ack: 'Reconocida',
        col_action: 'Acción',
        col_change: 'Cambio',
        col_when: 'Cuándo',
        sev_warn: 'Aviso',
        sev_crit: 'Crítica',
        sev_ok: 'Resuelta',
        ack: 'Reconocer',
        ack_done: 'Reconocida',
        ack_no: 'Todavía no',
        token_label: 'Token de operador',
        token_help: 'Reconocer requiere el token de operador de la configuración de la pasarela. Solo se guarda en esta pestaña.',
        ack_refused: 'La pasarela rechazó el reconocimiento ({0}).',
        ack_ok: 'Alerta {0} reconocida.',
        nodes_h: 'Nodos',
        nodes_caption: 'Todos los nodos que conoce la pasarela',
        col_node: 'Nodo',
        col_health: 'Salud',
        col_last: 'Última ventana',
        col_birth: 'Alta / baja',
        col_fw: 'Versión del firmware',
        col_backlog: 'Pendientes',
        col_ring: 'Descartes del búfer',
        col_refused: 'Tramas rechazadas',
        col_gaps: 'Saltos de secuencia',
        health_ok: 'Informando',
        health_late: 'Con retraso: faltan dos ventanas',
        health_dead: 'Caído o en silencio',
        alive: 'Alta {0}',
        dead: 'Caído desde {0}',
        no_nodes: 'Ningún nodo ha informado todavía.',
    },
};

/* The locale each language shows numbers and times in. */
const LOCALES = { en: 'en-GB', es: 'es-ES' };
let lang = pick();

function pick() {
    const saved = localStorage.getItem('citygate.lang');
    if (saved && TEXT[saved])
        return saved;
    for (const l of navigator.languages || [navigator.language || 'en']) {
        const base = String(l).slice(0, 2).toLowerCase();
        if (TEXT[base])
            return base;
    }
    return 'en';
}

export function current() {
    return lang;
}

/* The locale of the current language, for Intl's number and time formats. */
export function locale() {
    return LOCALES[lang];
}

export function choose(l) {
    if (!TEXT[l])
        return;
    lang = l;
    localStorage.setItem('citygate.lang', l);
}

/* The text of key in the current language, {0}, {1}, ... replaced by args. */
export function t(key, ...args) {
    const s = TEXT[lang][key] ?? TEXT.en[key] ?? key;
    return s.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

/*
 * Fills every [data-i18n] element under root from the table, and the
 * aria-label of every [data-i18n-label] one; sets <html lang>.
 */
export function apply(root = document) {
    document.documentElement.lang = lang;
    for (const el of root.querySelectorAll('[data-i18n]'))
        el.textContent = t(el.dataset.i18n, ...(el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : []));
    for (const el of root.querySelectorAll('[data-i18n-label]'))
        el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}
