/*
 * cityflash.h -- what the parts of cityflash share: the global options, the
 * way a command reports an outcome (plain text or --json), and the commands.
 *
 * Every command returns a sysexits code (0, 64 usage, 65 an image or node
 * refused the data, 66 missing input, 69 node unreachable, 70 internal, 73
 * cannot create output, 74 I/O). One line of plain language goes to stderr
 * for each failure; with --json a single JSON object goes to stdout instead
 * ({"ok": false, "error": "..."}), so that scripts read one thing.
 */
#ifndef CITYGATE_CITYFLASH_H
#define CITYGATE_CITYFLASH_H

#include "cli.h"

struct cf_opts {
    int json;         /* --json: one JSON object on stdout per command */
    const char *conn; /* --conn: serial:/dev/ttyX[,baud] or udp:HOST:PORT; NULL if not given */
};

/*
 * Reports a failure (printf-style reason) and returns code: a line
 * "cityflash: REASON" on stderr (cli_error()), or {"ok": false, "error": REASON, "exit":
 * code} on stdout with --json.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int cf_fail(const struct cf_opts *o, int code, const char *fmt, ...);

/*
 * Reports a usage error (printf-style reason, or NULL when getopt has said
 * it) and returns EX_USAGE: the reason and "Try 'cityflash COMMAND --help'."
 * on stderr (cli_usage_error()), or with --json one object as cf_fail()'s
 * with both in "error".
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int cf_usage(const struct cf_opts *o, const char *fmt, ...);

/*
 * Starts the --json result of a successful command on stdout: an object
 * with "ok": true; the command adds its keys and calls cli_json_end_object().
 */
void cf_json_begin(struct cli_json *j);

/* `cityflash keys new FILE`: an ed25519 key pair (FILE, FILE.pub). */
int cf_cmd_keys(const struct cf_opts *o, int argc, char **argv);

/* `cityflash image sign|verify ...` (local files), `image list|upload|test|confirm` (node). */
int cf_cmd_image(const struct cf_opts *o, int argc, char **argv);

/* The node's management port (node_cmds.c): `echo TEXT`, `reset`, `info`, and
 * `image list|upload|test|confirm` (argv[1] is the image subcommand). */
int cf_cmd_echo(const struct cf_opts *o, int argc, char **argv);
int cf_cmd_reset(const struct cf_opts *o, int argc, char **argv);
int cf_cmd_info(const struct cf_opts *o, int argc, char **argv);
int cf_cmd_image_node(const struct cf_opts *o, int argc, char **argv);

/* `rollout --image X --nodes GLOB --groups ... | --resume` (rollout.c): an image to the fleet. */
int cf_cmd_rollout(const struct cf_opts *o, int argc, char **argv);

/* `status [--nodes GLOB]` (status.c): the fleet's versions and update states. */
int cf_cmd_status(const struct cf_opts *o, int argc, char **argv);

/* `provision --site S --node N ...` (provision.c): identity, key and credentials. */
int cf_cmd_provision(const struct cf_opts *o, int argc, char **argv);

#endif
