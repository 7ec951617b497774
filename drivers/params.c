/*
 * params.c -- driver parameters: checked number parsing and the one table
 * every driver validates its key/value parameters against.
 *
 * A driver declares its keys once, as a drv__pspec table (type, range,
 * default, help), and drv__params_parse() fills its config struct from the
 * node's sensor section. Keeping the table declarative means the same
 * rules hold for every driver: unknown keys are errors, a key given twice is
 * an error, defaults pass through the same parser as given values, and each
 * failure names the key and says what was wrong. Nothing here logs.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "units.h"

int drv__fail(struct drv_diag *diag, const char *fmt, ...)
{
    va_list ap;

    if (diag) {
        va_start(ap, fmt);
        vsnprintf(diag->text, sizeof(diag->text), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Skips a leading 0x/0X and reports the base; leading signs are handled by the callers. */
static int number_base(const char **s)
{
    if ((*s)[0] == '0' && ((*s)[1] == 'x' || (*s)[1] == 'X')) {
        *s += 2;
        return 16;
    }
    return 10;
}

int drv__parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *p = s;
    char *end = NULL;
    unsigned long long v;
    int base;

    if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
        return -EINVAL;
    base = number_base(&p);
    if (!*p || *p == '-' || *p == '+' || isspace((unsigned char)*p))
        return -EINVAL;
    errno = 0;
    v = strtoull(p, &end, base);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int drv__parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool negative = false;
    uint64_t magnitude;
    int64_t v;
    int rc;

    if (s && *s == '-') {
        negative = true;
        s++;
    }
    rc = drv__parse_u64(s, 0, (uint64_t)INT64_MAX + (negative ? 1u : 0u), &magnitude);
    if (rc)
        return rc;
    if (negative)
        v = magnitude == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)magnitude;
    else
        v = (int64_t)magnitude;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int drv__parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || !isfinite(v) || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int drv__parse_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
    uint64_t v;

    if (gw_parse_duration_ms(s, &v) != 0)
        return -EINVAL;
    if (v < min_ms || v > max_ms)
        return -ERANGE;
    *out = v;
    return 0;
}

int drv__parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* Writes "a|b|c" into buf for a diagnostic. */
static void choices_text(const char *const *choices, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; choices[i] && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? "|" : "", choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Parses value for one spec into base; fills diag on failure. */
static int parse_one(const struct drv__pspec *p, void *base, const char *value,
                     struct drv_diag *diag)
{
    char *field = (char *)base + p->offset;
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0.0;
    bool b = false;
    char list[96];
    int rc;

    switch (p->type) {
    case DRV__P_U32:
    case DRV__P_U64:
        rc = drv__parse_u64(value, (uint64_t)p->min,
                            p->max >= 0x1p64 ? UINT64_MAX : (uint64_t)p->max, &u);
        if (rc == 0 && p->type == DRV__P_U32)
            *(uint32_t *)(void *)field = (uint32_t)u;
        else if (rc == 0)
            *(uint64_t *)(void *)field = u;
        break;
    case DRV__P_I32:
        rc = drv__parse_i64(value, (int64_t)p->min, (int64_t)p->max, &i);
        if (rc == 0)
            *(int32_t *)(void *)field = (int32_t)i;
        break;
    case DRV__P_DOUBLE:
        rc = drv__parse_double(value, p->min, p->max, &d);
        if (rc == 0)
            *(double *)(void *)field = d;
        break;
    case DRV__P_MS:
        rc = drv__parse_ms(value, (uint64_t)p->min, (uint64_t)p->max, &u);
        if (rc == 0)
            *(uint32_t *)(void *)field = (uint32_t)u;
        break;
    case DRV__P_BOOL:
        rc = drv__parse_bool(value, &b);
        if (rc == 0)
            *(bool *)(void *)field = b;
        break;
    case DRV__P_STR:
        if (strlen(value) >= p->size)
            return drv__fail(diag, "parameter %s: longer than %zu characters", p->key, p->size - 1);
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case DRV__P_CHOICE:
        for (int k = 0; p->choices[k]; k++) {
            if (strcmp(value, p->choices[k]) == 0) {
                *(int *)(void *)field = k;
                return 0;
            }
        }
        choices_text(p->choices, list, sizeof(list));
        return drv__fail(diag, "parameter %s: \"%s\" is not one of %s", p->key, value, list);
    default:
        return drv__fail(diag, "parameter %s: unknown type", p->key);
    }
    if (rc == -ERANGE)
        return drv__fail(diag, "parameter %s: %s is outside %g ... %g", p->key, value, p->min,
                         p->max);
    if (rc)
        return drv__fail(diag, "parameter %s: \"%s\" is not a valid %s", p->key, value,
                         p->type == DRV__P_BOOL ? "boolean"
                         : p->type == DRV__P_MS ? "duration"
                                                : "number");
    return 0;
}

int drv__params_parse(const struct drv__pgroup *groups, size_t n_groups,
                      const struct drv_param *params, size_t n, struct drv_diag *diag)
{
    bool seen[DRV__MAX_PSPECS] = {false};
    size_t n_total = 0;
    int rc = 0;

    for (size_t g = 0; g < n_groups; g++)
        n_total += groups[g].n_spec;
    if (n_total > DRV__MAX_PSPECS)
        return drv__fail(diag, "too many parameters in the driver's table");

    for (size_t k = 0; k < n; k++) {
        size_t idx = 0;
        bool found = false;

        if (!params[k].key || !params[k].value)
            return drv__fail(diag, "parameter %zu has no key or value", k + 1);
        for (size_t g = 0; g < n_groups && !found; g++) {
            for (size_t s = 0; s < groups[g].n_spec; s++, idx++) {
                const struct drv__pspec *p = &groups[g].spec[s];
                if (strcmp(p->key, params[k].key) != 0)
                    continue;
                if (seen[idx])
                    return drv__fail(diag, "parameter %s given twice", p->key);
                seen[idx] = true;
                found = true;
                rc = parse_one(p, groups[g].base, params[k].value, diag);
                if (rc)
                    return rc;
                break;
            }
        }
        if (!found)
            return drv__fail(diag, "unknown parameter %s", params[k].key);
    }

    for (size_t g = 0, idx = 0; g < n_groups; g++) {
        for (size_t s = 0; s < groups[g].n_spec; s++, idx++) {
            const struct drv__pspec *p = &groups[g].spec[s];
            if (seen[idx])
                continue;
            if (!p->def)
                return drv__fail(diag, "missing parameter %s", p->key);
            rc = parse_one(p, groups[g].base, p->def, diag);
            if (rc)
                return rc;
        }
    }
    return 0;
}
