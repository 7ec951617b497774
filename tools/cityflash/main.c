/*
 * cityflash -- the technician's tool: signing keys, MCUboot images, and (over
 * a node's management port) provisioning and firmware updates.
 *
 *   cityflash [--json] [--conn CONN] COMMAND ...
 *   cityflash keys new FILE
 *   cityflash image sign --key KEY --version V [--security-counter N] PAYLOAD OUT
 *   cityflash image verify [--key PUBKEY]... IMAGE
 *
 * This file holds the global options, the dispatch to the commands and the
 * way every command reports (cityflash.h). Exit codes are sysexits: 0 ok, 64
 * usage, 65 image refused, 66 input missing, 70 internal, 73 cannot create,
 * 74 I/O (docs/field.md).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cityflash.h"

#ifndef CITYFLASH_VERSION
#define CITYFLASH_VERSION "dev"
#endif

int cf_fail(const struct cf_opts *o, int code, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (o->json) {
        json_t *j = json_pack("{sb ss si}", "ok", 0, "error", why, "exit", code);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (text)
            puts(text);
        free(text);
        json_decref(j);
    } else {
        fprintf(stderr, "cityflash: %s\n", why);
    }
    return code;
}

void cf_json_ok(json_t *obj)
{
    if (!obj)
        return;
    json_object_set_new(obj, "ok", json_true());
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        puts(text);
    free(text);
    json_decref(obj);
}

static void usage(FILE *to)
{
    fputs("usage: cityflash [--json] [--conn CONN] COMMAND ...\n"
          "\n"
          "  keys new FILE                 make an ed25519 signing key (FILE, FILE.pub)\n"
          "  image sign --key KEY --version V [--security-counter N] PAYLOAD OUT\n"
          "                                make a signed MCUboot image\n"
          "  image verify [--key PUB]... IMAGE\n"
          "                                check an image's hash and signature\n"
          "\n"
          "options:\n"
          "  -j, --json          one JSON object on stdout per command\n"
          "  -c, --conn CONN     the node's management port: serial:/dev/ttyX or udp:HOST:PORT\n"
          "  -h, --help          show this help and exit\n"
          "  -V, --version       show the version and exit\n"
          "\n"
          "exit codes: 0 ok, 64 usage, 65 image or data refused, 66 input missing,\n"
          "70 internal error, 73 cannot create output, 74 I/O error\n",
          to);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"conn", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cf_opts o = {0};
    int c;
    /* "+": options after the command belong to the command. */
    while ((c = getopt_long(argc, argv, "+jc:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o.json = 1;
            break;
        case 'c':
            o.conn = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("cityflash %s\n", CITYFLASH_VERSION);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (strcmp(sub_argv[0], "keys") == 0)
        return cf_cmd_keys(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "image") == 0)
        return cf_cmd_image(&o, sub_argc, sub_argv);
    fprintf(stderr, "cityflash: unknown command %s\n", sub_argv[0]);
    usage(stderr);
    return EX_USAGE;
}
