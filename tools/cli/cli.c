/*
 * cli.c -- the command-line conventions every program shares (cli.h):
 * program name and messages, --version, option values with the project's
 * one duration grammar, a streaming JSON writer and a progress report.
 *
 * Kept free of any program's knowledge so that a new tool gets the same
 * messages, exit codes and output formats by linking it, and a change to the
 * convention is made here once.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef CITYGATE_VERSION
#error "CITYGATE_VERSION must be defined by the build (CMake PROJECT_VERSION)"
#endif

static const char *prog = "citygate";
static const char *command; /* cli_set_command()'s, or NULL */

void cli_init(const char *argv0)
{
    if (!argv0 || !*argv0)
        return;
    const char *slash = strrchr(argv0, '/');
    prog = slash && slash[1] ? slash + 1 : argv0;
}

void cli_set_command(const char *cmd)
{
    command = cmd;
}

const char *cli_prog(void)
{
    return prog;
}

const char *cli_version(void)
{
    return CITYGATE_VERSION;
}

int cli_print_version(void)
{
    printf("%s %s\n", prog, CITYGATE_VERSION);
    return 0;
}

__attribute__((format(printf, 1, 0))) static void vmessage(const char *fmt, va_list ap)
{
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    fprintf(stderr, "%s: %s\n", prog, text);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vmessage(fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "Try '%s%s%s --help'.\n", prog, command ? " " : "", command ? command : "");
    return EX_USAGE;
}

int cli_duration_arg(const char *opt, const char *text, uint64_t min_ms, uint64_t max_ms,
                     uint64_t *out_ms)
{
    uint64_t v;
    char lo[32], hi[32];
    if (gw_parse_duration_ms(text, &v) != 0)
        return cli_usage_error("%s: \"%s\" is not a duration (500ms, 30s, 5m, 1h, 7d)", opt, text);
    if (v < min_ms || v > max_ms)
        return cli_usage_error(
            "%s: %s is outside %s ... %s", opt, text, cli_format_duration(min_ms, lo, sizeof lo),
            max_ms == UINT64_MAX ? "unlimited" : cli_format_duration(max_ms, hi, sizeof hi));
    *out_ms = v;
    return 0;
}

/* An option's value parsed by parse (a units.h parser; grammar names it in the
 * message) within min ... max, in unit (appended to the range, or ""). */
static int u64_arg(const char *opt, const char *text, int (*parse)(const char *, uint64_t *),
                   const char *grammar, const char *unit, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (parse(text, &v) != 0)
        return cli_usage_error("%s: \"%s\" is not %s", opt, text, grammar);
    if (v < min || v > max)
        return cli_usage_error("%s: %s is outside %" PRIu64 " ... %" PRIu64 "%s", opt, text, min,
                               max, unit);
    *out = v;
    return 0;
}

int cli_uint_arg(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return u64_arg(opt, text, gw_parse_uint, "a whole number", "", min, max, out);
}

int cli_real_arg(const char *opt, const char *text, double min, double max, double *out)
{
    double v;
    if (gw_parse_real(text, &v) != 0)
        return cli_usage_error("%s: \"%s\" is not a number", opt, text);
    if (v < min || v > max)
        return cli_usage_error("%s: %s is outside %g ... %g", opt, text, min, max);
    *out = v;
    return 0;
}

int cli_size_arg(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return u64_arg(opt, text, gw_parse_bytes, "a size (4096, 64KiB, 16MiB)", " bytes", min, max,
                   out);
}

char *cli_format_duration(uint64_t ms, char *buf, size_t size)
{
    static const struct {
        uint64_t ms;
        const char *name;
    } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    if (ms < 1000) {
        snprintf(buf, size, "%" PRIu64 "ms", ms);
        return buf;
    }
    /* The largest unit that fits, and the next one below it when nonzero. */
    for (size_t i = 0; i < 4; i++) {
        if (ms < u[i].ms)
            continue;
        uint64_t big = ms / u[i].ms;
        if (i == 3) {
            snprintf(buf, size, "%" PRIu64 "s", big);
        } else {
            uint64_t small = ms % u[i].ms / u[i + 1].ms;
            snprintf(buf, size, small ? "%" PRIu64 "%s%02" PRIu64 "%s" : "%" PRIu64 "%s", big,
                     u[i].name, small, u[i + 1].name);
        }
        break;
    }
    return buf;
}

uint64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cli_read_file(const char *path, size_t max_bytes, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = 0;

    if (!f)
        return -errno;
    /* Grown as it fills, so that a pipe (no size to ask for) reads as a file does;
     * never past max_bytes + 1 bytes of text (one more than allowed is how a file
     * too large shows) and a NUL. */
    for (;;) {
        if (cap - n < 2) {
            size_t want = cap ? 2 * cap : 65536;
            if (max_bytes < SIZE_MAX - 2 && want > max_bytes + 2)
                want = max_bytes + 2;
            char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, want) : NULL;
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            buf = grown;
            cap = want;
        }
        size_t room = cap - n - 1;
        errno = 0;
        size_t got = fread(buf + n, 1, room, f);
        n += got;
        if (n > max_bytes) {
            rc = -EFBIG;
            break;
        }
        if (got < room) { /* the end, or an error */
            if (ferror(f))
                rc = errno ? -errno : -EIO;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

size_t cli_body_append(char *p, size_t size, size_t n, void *ctx)
{
    struct cli_body *b = ctx;
    size_t add = size * n;
    if (add > b->max - b->len) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->len + add + 1 > b->cap * 2 ? b->len + add + 1 : b->cap * 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* JSON ------------------------------------------------------------------ */

void cli_json_init(struct cli_json *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

/* Writes the comma before a value (or a key) where one is due. */
static void json_value_start(struct cli_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth])
        fputc(',', j->out);
    j->need_comma[j->depth] = true;
}

static void json_open(struct cli_json *j, char c)
{
    if (j->depth == CLI_JSON_MAX_DEPTH) {
        j->error = true;
        return;
    }
    json_value_start(j);
    fputc(c, j->out);
    j->need_comma[++j->depth] = false;
}

static void json_close(struct cli_json *j, char c)
{
    if (j->depth == 0 || j->after_key) {
        j->error = true;
        return;
    }
    fputc(c, j->out);
    if (--j->depth == 0)
        fputc('\n', j->out);
}

void cli_json_begin_object(struct cli_json *j)
{
    json_open(j, '{');
}

void cli_json_end_object(struct cli_json *j)
{
    json_close(j, '}');
}

void cli_json_begin_array(struct cli_json *j)
{
    json_open(j, '[');
}

void cli_json_end_array(struct cli_json *j)
{
    json_close(j, ']');
}

/* Writes s as a JSON string: quotes, backslashes and control characters
 * escaped (RFC 8259 section 7); other bytes as they are. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", out);
        else if (*c == '\t')
            fputs("\\t", out);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

void cli_json_key(struct cli_json *j, const char *key)
{
    if (j->after_key || j->depth == 0) {
        j->error = true;
        return;
    }
    json_value_start(j);
    json_string(j->out, key);
    fputc(':', j->out);
    j->after_key = true;
}

void cli_json_str(struct cli_json *j, const char *s)
{
    json_value_start(j);
    if (s)
        json_string(j->out, s);
    else
        fputs("null", j->out);
}

void cli_json_int(struct cli_json *j, int64_t v)
{
    json_value_start(j);
    fprintf(j->out, "%" PRId64, v);
}

void cli_json_uint(struct cli_json *j, uint64_t v)
{
    json_value_start(j);
    fprintf(j->out, "%" PRIu64, v);
}

void cli_json_double(struct cli_json *j, double v)
{
    json_value_start(j);
    if (isfinite(v))
        fprintf(j->out, "%.17g", v);
    else
        fputs("null", j->out);
}

void cli_json_bool(struct cli_json *j, bool v)
{
    json_value_start(j);
    fputs(v ? "true" : "false", j->out);
}

void cli_json_null(struct cli_json *j)
{
    json_value_start(j);
    fputs("null", j->out);
}

/* Progress -------------------------------------------------------------- */

void cli_progress_init(struct cli_progress *p, FILE *out, const char *label, uint64_t total,
                       const char *unit, uint64_t now_ms)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out)) == 1;
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start_ms = now_ms;
    p->last_ms = now_ms;
}

/* Prints one report of done at now_ms, in the terminal or the plain form. */
static void progress_print(struct cli_progress *p, uint64_t done, uint64_t now_ms)
{
    uint64_t elapsed = now_ms - p->start_ms;
    double rate = elapsed ? (double)done * 1000.0 / (double)elapsed : 0.0;
    char eta[32] = "?", took[32];

    if (p->total && rate > 0.0) {
        uint64_t left = done < p->total ? p->total - done : 0;
        cli_format_duration((uint64_t)((double)left / rate * 1000.0 + 0.5), eta, sizeof eta);
    }
    cli_format_duration(elapsed, took, sizeof took);
    if (p->tty) {
        fprintf(p->out, "\r%s ", p->label);
        if (p->total) {
            uint64_t d = done < p->total ? done : p->total;
            unsigned filled = (unsigned)(d * 20 / p->total);
            fputc('[', p->out);
            for (unsigned i = 0; i < 20; i++)
                fputc(i < filled ? '#' : ' ', p->out);
            fprintf(p->out, "] %3u%% ", (unsigned)(d * 100 / p->total));
        }
    } else {
        fprintf(p->out, "%s: ", p->label);
    }
    if (p->total)
        fprintf(p->out, "%" PRIu64 "/%" PRIu64 " %s, %.1f %s/s, %s, ETA %s", done, p->total,
                p->unit, rate, p->unit, took, eta);
    else
        fprintf(p->out, "%" PRIu64 " %s, %.1f %s/s, %s", done, p->unit, rate, p->unit, took);
    fputs(p->tty ? "\033[K" : "\n", p->out);
    fflush(p->out);
    p->last_ms = now_ms;
    p->drawn = true;
}

void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t now_ms)
{
    uint64_t every = p->tty ? CLI_PROGRESS_TTY_MS : CLI_PROGRESS_PLAIN_MS;
    if (now_ms - p->last_ms >= every)
        progress_print(p, done, now_ms);
}

void cli_progress_finish(struct cli_progress *p, uint64_t done, uint64_t now_ms)
{
    progress_print(p, done, now_ms);
    if (p->tty)
        fputc('\n', p->out);
    fflush(p->out);
}
