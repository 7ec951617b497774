/*
 * test_quantity.c -- the quantity table against the schema and against the
 * stages that read it: one spelling of every name, every quantity of
 * frame.proto has a row, and the traffic merge takes exactly the rows the
 * table says it merges. (docs_quantities checks the table against the docs.)
 */
#include <ctype.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "frame.pb-c.h"
#include "qsketch.h"
#include "quantity.h"
#include "traffic.h"

/* Every value of frame.proto's Quantity but 0 has a row, spelled as the schema spells it. */
static void test_schema_names(void)
{
    const ProtobufCEnumDescriptor *d = &citygate__v1__quantity__descriptor;
    size_t n_wire = 0;
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        const struct gw_quantity *qi = gw_quantity_info(v->value);
        if (v->value == 0) {
            CU_ASSERT(qi == NULL);
            continue;
        }
        n_wire++;
        CU_ASSERT_FATAL(qi != NULL);
        CU_ASSERT_EQUAL(qi->number, (uint32_t)v->value);
        CU_ASSERT_STRING_EQUAL(qi->name, v->name);
        CU_ASSERT_EQUAL(gw_quantity_from_name(v->name, strlen(v->name)), v->value);
        CU_ASSERT(gw_quantity_series((uint32_t)v->value) == qi);
    }
    CU_ASSERT_EQUAL(n_wire + 1, GW_QUANTITY_N_WIRE);
    CU_ASSERT(gw_quantity_info(GW_QUANTITY_N_WIRE) == NULL);
    CU_ASSERT(gw_quantity_info(-1) == NULL);
    CU_ASSERT_EQUAL(gw_quantity_from_name("speed", 5), GW_ENOTFOUND);
}

/* A store name is its wire name in lower case; a gateway series has no wire name. */
static void test_one_spelling(void)
{
    size_t n_series = 0;
    for (size_t r = 1; r < gw_quantity_n_rows; r++) {
        const struct gw_quantity *qi = &gw_quantity_rows[r];
        CU_ASSERT(gw_quantity_series(qi->number) == qi);
        CU_ASSERT(qi->min <= qi->max);
        CU_ASSERT(qi->family[0] != '\0' && qi->label[0] != '\0');
        for (size_t k = 1; k < r; k++)
            CU_ASSERT(strcmp(gw_quantity_rows[k].store, qi->store) != 0);
        if (qi->number >= GW_QUANTITY_FIRST_SERIES) {
            n_series++;
            CU_ASSERT(qi->name == NULL);
            CU_ASSERT_EQUAL(gw_quantity_from_name(qi->store, strlen(qi->store)), GW_ENOTFOUND);
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(strlen(qi->name), strlen(qi->store));
        for (size_t i = 0; qi->name[i]; i++)
            CU_ASSERT_EQUAL(tolower((unsigned char)qi->name[i]), qi->store[i]);
    }
    CU_ASSERT_EQUAL(n_series, gw_quantity_n_rows - GW_QUANTITY_N_WIRE);
    CU_ASSERT(gw_quantity_series(GW_QUANTITY_FIRST_SERIES + (uint32_t)n_series) == NULL);
    CU_ASSERT(gw_quantity_series(GW_QUANTITY_FIRST_SERIES - 1) == NULL);
    CU_ASSERT_STRING_EQUAL(gw_quantity_series(GW_QUANTITY_VEHICLE_SPEED)->store, "vehicle_speed");
    CU_ASSERT(gw_quantity_has_quantiles(GW_QUANTITY_NOISE));
    CU_ASSERT(!gw_quantity_has_quantiles(GW_QUANTITY_SPEED));
    CU_ASSERT(!gw_quantity_has_quantiles(-1));
    CU_ASSERT_STRING_EQUAL(gw_unit_symbol(CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR), "km/h");
    CU_ASSERT_STRING_EQUAL(gw_unit_symbol(0), "");
    CU_ASSERT_STRING_EQUAL(gw_unit_symbol(9999), "");
}

/* gw_traffic_add() takes a window into the figures exactly when its row merges across lanes. */
static void test_merge_follows_the_table(void)
{
    for (size_t r = 1; r < gw_quantity_n_rows; r++) {
        const struct gw_quantity *qi = &gw_quantity_rows[r];
        struct gw_qsketch sketch;
        struct gw_traffic t;
        struct gw_aggregate a;
        memset(&a, 0, sizeof a);
        gw_qsketch_init(&sketch);
        CU_ASSERT_EQUAL_FATAL(gw_qsketch_add(&sketch, 50.0), 0);
        a.key.site = "s";
        a.key.node = "n";
        a.key.sensor = "";
        a.key.lane = 1;
        a.key.quantity = qi->number;
        a.key.vehicle_class = CITYGATE__V1__VEHICLE_CLASS__CAR;
        a.width_ms = 30000;
        a.count = 1;
        a.sum = a.min = a.max = a.mean = 50.0;
        a.sketch = &sketch;
        gw_traffic_init(&t);
        CU_ASSERT_EQUAL(gw_traffic_add(&t, &a), 0);
        if ((t.windows == 1) != (qi->merge != GW_MERGE_NONE))
            CU_FAIL(qi->store);
        gw_traffic_fini(&t);
        gw_qsketch_fini(&sketch);
    }
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"every schema quantity has its row, spelled alike", test_schema_names},
        {"one spelling of each name", test_one_spelling},
        {"the traffic merge follows the table", test_merge_follows_the_table},
        {NULL, NULL},
    };
    return cu_main("quantity", tests);
}
