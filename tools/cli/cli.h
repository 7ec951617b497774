/*
 * cli.h -- what every program of the project does alike on its command line.
 *
 * Link the static library `citycli` (tools/cli/CMakeLists.txt) and follow the
 * convention (docs/tools.md, "Conventions"):
 *
 *   - getopt_long; `-h`/`--help` prints the usage to stdout and exits 0;
 *     `--version` prints "PROG VERSION" (the CMake project version) and exits 0;
 *     `-c`/`--config FILE` names the configuration file and `--check-config`
 *     validates it and exits (0, or 78 with file and line) for programs that
 *     have one; `--json` switches results on stdout to JSON for programs that
 *     have results.
 *   - Exit codes from <sysexits.h>: 0 ok, EX_USAGE 64, EX_DATAERR 65,
 *     EX_NOINPUT 66, EX_UNAVAILABLE 69, EX_SOFTWARE 70, EX_IOERR 74,
 *     EX_TEMPFAIL 75, EX_CONFIG 78.
 *   - Durations take the one grammar of units.h: 500ms, 30s, 5m, 1h, 7d;
 *     so do sizes (64KiB), whole numbers and real numbers (0.5, 1e6).
 *   - Messages go to stderr as "PROG: text"; results go to stdout.
 *
 * A minimal main:
 *
 *     static const struct option opts[] = {
 *         {"duration", required_argument, NULL, 'd'},
 *         CLI_OPTS_COMMON,
 *         {NULL, 0, NULL, 0},
 *     };
 *     cli_init(argv[0]);
 *     while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
 *         switch (c) {
 *         case 'd':
 *             if (cli_duration_arg("--duration", optarg, 0, UINT64_MAX, &dur_ms))
 *                 return EX_USAGE;
 *             break;
 *         case 'h':
 *             usage(stdout);
 *             return 0;
 *         case CLI_OPT_VERSION:
 *             return cli_print_version();
 *         default:
 *             return cli_usage_error(NULL);
 *         }
 *     }
 *
 * Everything here is for the main thread of a command-line program: the
 * program name is process-wide state set once by cli_init().
 */
#ifndef CITYGATE_CLI_H
#define CITYGATE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#include "units.h"

/* getopt_long values of the common long options without a short letter. */
enum {
    CLI_OPT_VERSION = 0x1000,
    CLI_OPT_CHECK_CONFIG,
    CLI_OPT_JSON,
};

/* --help and --version, for the end of a program's struct option table. */
#define CLI_OPTS_COMMON                                                                            \
    {"help", no_argument, NULL, 'h'},                                                              \
    {                                                                                              \
        "version", no_argument, NULL, CLI_OPT_VERSION                                              \
    }

/* Remembers the program's name (the last component of argv0) for messages. */
void cli_init(const char *argv0);

/* Names the command of a program that has several (`cityflash rollout`): from
 * now on cli_usage_error() points to "PROG CMD --help", the command's own
 * help. cmd is borrowed and must live as long as the program (a string
 * constant or an argv string); NULL goes back to "PROG --help". */
void cli_set_command(const char *cmd);

/* The name set by cli_init() ("citygate" before it); never NULL. */
const char *cli_prog(void);

/* The project version, e.g. "0.1.0" (CMake's PROJECT_VERSION). */
const char *cli_version(void);

/* Prints "PROG VERSION\n" to stdout; returns 0, the exit code of --version. */
int cli_print_version(void);

/* Prints "PROG: text\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "PROG: text\n" (when fmt is not NULL) and "Try 'PROG --help'.\n" (or
 * 'PROG CMD --help' after cli_set_command()) to stderr; returns EX_USAGE so that a caller can
 * `return cli_usage_error(...)`. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses the duration text given to option opt into milliseconds within
 * min_ms ... max_ms. Returns 0 and writes *out_ms, or prints a usage error
 * naming opt and returns EX_USAGE. */
int cli_duration_arg(const char *opt, const char *text, uint64_t min_ms, uint64_t max_ms,
                     uint64_t *out_ms);

/* Parses a whole number given to option opt within min ... max. Returns 0 and
 * writes *out, or prints a usage error and returns EX_USAGE. */
int cli_uint_arg(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a real number (units.h's grammar: 0.5, 12, 1e6) given to option opt
 * within min ... max. Returns 0 and writes *out, or prints a usage error and
 * returns EX_USAGE. */
int cli_real_arg(const char *opt, const char *text, double min, double max, double *out);

/* Parses a size (4096, 64KiB, 16MiB) given to option opt into bytes within
 * min ... max. Returns 0 and writes *out, or prints a usage error and returns
 * EX_USAGE. */
int cli_size_arg(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Formats a duration for people: "250ms", "42s", "5m07s", "2h05m", "3d04h".
 * Writes at most size bytes (NUL included); returns buf. */
char *cli_format_duration(uint64_t ms, char *buf, size_t size);

/* The monotonic clock in milliseconds. */
uint64_t cli_now_ms(void);

/* Reads the whole file at path (a regular file or a pipe) into a malloc'ed,
 * NUL-terminated buffer. Returns 0 and sets *text (caller frees with free())
 * and *len (the bytes before the NUL); or -errno: the open's or the read's,
 * -EFBIG when the file holds more than max_bytes (SIZE_MAX: no limit), or
 * -ENOMEM. *text and *len are written only on success. */
int cli_read_file(const char *path, size_t max_bytes, char **text, size_t *len);

/*
 * A body received in pieces (an HTTP answer through libcurl) kept in memory,
 * NUL-terminated, at most max bytes. Start it zeroed with max set; set len to
 * 0 to reuse it (the memory is kept); free data when done.
 */
struct cli_body {
    char *data; /* NULL until the first byte arrives */
    size_t len, cap;
    size_t max;  /* a longer body is refused: too_big is set */
    int too_big; /* the body went past max */
};

/* Appends size * n bytes at p to the struct cli_body ctx; returns the bytes
 * taken, or 0 (which ends a curl transfer) past max or without memory. Its
 * signature is libcurl's CURLOPT_WRITEFUNCTION's, with the body as
 * CURLOPT_WRITEDATA. */
size_t cli_body_append(char *p, size_t size, size_t n, void *ctx);

/*
 * A streaming JSON writer for --json output: commas, nesting and string
 * escaping are handled here, so every tool emits the same valid JSON.
 *
 *     struct cli_json j;
 *     cli_json_init(&j, stdout);
 *     cli_json_begin_object(&j);
 *     cli_json_key(&j, "published");
 *     cli_json_uint(&j, 600000);
 *     cli_json_end_object(&j);      (prints "{\"published\":600000}\n")
 *
 * Nesting is limited to CLI_JSON_MAX_DEPTH; deeper opens are ignored and set
 * j.error, as are unbalanced closes. Non-finite doubles are written as null.
 */
#define CLI_JSON_MAX_DEPTH 16

struct cli_json {
    FILE *out; /* borrowed */
    unsigned depth;
    bool error; /* misuse was detected; the output is not valid JSON */
    bool need_comma[CLI_JSON_MAX_DEPTH + 1];
    bool after_key; /* a key was written, its value comes next */
};

void cli_json_init(struct cli_json *j, FILE *out);
void cli_json_begin_object(struct cli_json *j);
void cli_json_end_object(struct cli_json *j);
void cli_json_begin_array(struct cli_json *j);
void cli_json_end_array(struct cli_json *j);
void cli_json_key(struct cli_json *j, const char *key);
void cli_json_str(struct cli_json *j, const char *s);
void cli_json_int(struct cli_json *j, int64_t v);
void cli_json_uint(struct cli_json *j, uint64_t v);
void cli_json_double(struct cli_json *j, double v);
void cli_json_bool(struct cli_json *j, bool v);
void cli_json_null(struct cli_json *j);

/*
 * A progress report on stderr. On a terminal: one line redrawn at most ten
 * times a second, with a bar, the percentage, the rate and the ETA. Not on a
 * terminal (a log, a pipe): a plain line every 5 s, so that logs stay
 * readable. With total 0 (unknown) there is no bar, percentage or ETA.
 *
 *     struct cli_progress p;
 *     cli_progress_init(&p, stderr, "flashing", n_bytes, "B");
 *     ... cli_progress_update(&p, done, cli_now_ms()); ...
 *     cli_progress_finish(&p, done, cli_now_ms());
 */
struct cli_progress {
    FILE *out;                /* borrowed */
    bool tty;                 /* set by init from isatty(); tests may override it */
    const char *label, *unit; /* borrowed, live as long as the progress */
    uint64_t total, start_ms, last_ms;
    bool drawn; /* something was printed since the start */
};

#define CLI_PROGRESS_TTY_MS 100
#define CLI_PROGRESS_PLAIN_MS 5000

/* Starts a progress report of total units (0: unknown) at now. unit names
 * the thing counted ("B", "frames"). Borrows out, label and unit. */
void cli_progress_init(struct cli_progress *p, FILE *out, const char *label, uint64_t total,
                       const char *unit, uint64_t now_ms);

/* Reports done units at now_ms; prints only when the last print is at least
 * CLI_PROGRESS_TTY_MS (terminal) or CLI_PROGRESS_PLAIN_MS (plain) old. */
void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t now_ms);

/* Prints the final state (always) and ends the terminal line. */
void cli_progress_finish(struct cli_progress *p, uint64_t done, uint64_t now_ms);

#endif
