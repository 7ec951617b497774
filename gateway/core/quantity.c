/*
 * quantity.c -- the quantity table (quantity.h) laid out for lookups.
 *
 * The rows are laid out so that a wire quantity's number is its row, and a
 * gateway series' number minus GW_QUANTITY_FIRST_SERIES is its row after the
 * wire rows: every lookup is an index and a compare, cheap enough for the
 * per-reading checks of validation. The compiler checks the layout, so a row
 * out of frame.proto's order does not build.
 */
#include "quantity.h"

#include <string.h>

#include "err.h"

/* Row positions in table order; row 0 is the placeholder for quantity 0. */
enum {
    GW__ROW_NONE = 0,
#define GW__X(id, ...) GW__ROW_##id,
    GW_QUANTITY_TABLE(GW__X)
#undef GW__X
        GW__N_ROWS
};

#define GW__X(id, number, ...)                                                                     \
    _Static_assert((number) < GW_QUANTITY_FIRST_SERIES                                             \
                       ? (number) == GW__ROW_##id                                                  \
                       : (number)-GW_QUANTITY_FIRST_SERIES == GW__ROW_##id - GW_QUANTITY_N_WIRE,   \
                   "quantity table: " #id " is out of order");
GW_QUANTITY_TABLE(GW__X)
#undef GW__X

const struct gw_quantity gw_quantity_rows[] = {
    {0, NULL, "", 0, 0, 0, "other", false, GW_MERGE_NONE, ""},
#define GW__X(id, number, store, unit, min, max, family, quantiles, merge, label)                  \
    {(number),                                                                                     \
     (number) < GW_QUANTITY_FIRST_SERIES ? #id : NULL,                                             \
     store,                                                                                        \
     GW__U(unit),                                                                                  \
     (min),                                                                                        \
     (max),                                                                                        \
     family,                                                                                       \
     (quantiles),                                                                                  \
     GW_MERGE_##merge,                                                                             \
     label},
    GW_QUANTITY_TABLE(GW__X)
#undef GW__X
};
const size_t gw_quantity_n_rows = GW__N_ROWS;

int gw_quantity_from_name(const char *name, size_t len)
{
    for (int q = 1; q < GW_QUANTITY_N_WIRE; q++) {
        const char *n = gw_quantity_rows[q].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return q;
    }
    return GW_ENOTFOUND;
}

int gw_quantity_has_quantiles(int quantity)
{
    const struct gw_quantity *qi = quantity >= 0 ? gw_quantity_series((uint32_t)quantity) : NULL;
    return qi && qi->quantiles;
}

const char *gw_unit_symbol(int unit)
{
    static const char *const symbols[] = {
        [GW__U(VEHICLES)] = "veh",
        [GW__U(PERCENT)] = "%",
        [GW__U(KILOMETRES_PER_HOUR)] = "km/h",
        [GW__U(SECONDS)] = "s",
        [GW__U(MICROGRAMS_PER_CUBIC_METRE)] = "µg/m³",
        [GW__U(DECIBEL_A)] = "dB(A)",
        [GW__U(DEGREES_CELSIUS)] = "°C",
        [GW__U(MICROSTRAIN)] = "µε",
        [GW__U(MILLIMETRES_PER_SECOND)] = "mm/s",
        [GW__U(DEGREES)] = "°",
        [GW__U(SPACES)] = "spaces",
        [GW__U(PARTS_PER_MILLION)] = "ppm",
        [GW__U(PER_KILOMETRE)] = "1/km",
        [GW__U(STATE)] = "",
        [GW__U(KILOWATTS)] = "kW",
        [GW__U(KILOWATT_HOURS)] = "kWh",
        [GW__U(VOLTS)] = "V",
        [GW__U(AMPERES)] = "A",
        [GW__U(METRES)] = "m",
    };
    if (unit <= 0 || (size_t)unit >= sizeof symbols / sizeof symbols[0] || !symbols[unit])
        return "";
    return symbols[unit];
}

const char *gw_merge_name(enum gw_merge merge)
{
    switch (merge) {
    case GW_MERGE_SUM:
        return "sum";
    case GW_MERGE_POOLED:
        return "pooled";
    case GW_MERGE_LANE_MEAN:
        return "lane mean";
    case GW_MERGE_NONE:
        break;
    }
    return "none";
}
