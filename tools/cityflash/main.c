/*
 * cityflash -- the technician's tool: signing keys, MCUboot images, and (over
 * a node's management port) provisioning and firmware updates.
 *
 *   cityflash [--json] [--conn CONN] COMMAND ...
 *   cityflash keys new FILE
 *   cityflash image sign --key KEY --version V [--security-counter N] [--cid UUID] PAYLOAD OUT
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

int cf_fail(const struct cf_opts *o, int code, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (o->json) {
        struct cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j);
        cli_json_key(&j, "ok");
        cli_json_bool(&j, false);
        cli_json_key(&j, "error");
        cli_json_str(&j, why);
        cli_json_key(&j, "exit");
        cli_json_int(&j, code);
        cli_json_end_object(&j);
    } else {
        cli_error("%s", why);
    }
    return code;
}

void cf_json_begin(struct cli_json *j)
{
    cli_json_init(j, stdout);
    cli_json_begin_object(j);
    cli_json_key(j, "ok");
    cli_json_bool(j, true);
}

static void usage(FILE *to)
{
    fputs("usage: cityflash [--json] [--conn CONN] COMMAND ...\n"
          "\n"
          "  keys new FILE                 make an ed25519 signing key (FILE, FILE.pub)\n"
          "  image sign --key KEY --version V [--security-counter N] [--cid UUID] PAYLOAD OUT\n"
          "                                make a signed MCUboot image (--cid: the hardware\n"
          "                                class it is built for, MCUboot's UUID_CID)\n"
          "  image verify [--key PUB]... IMAGE\n"
          "                                check an image's hash and signature\n"
          "\n"
          "on a node (--conn serial:/dev/ttyX[,BAUD] or udp:HOST:PORT):\n"
          "  image list                    the node's slots\n"
          "  image upload IMAGE            send IMAGE to the secondary slot (resumes)\n"
          "  image test HASH               boot it once at the next start\n"
          "  image confirm [HASH]          keep the running image (or HASH for good)\n"
          "  reset | info | echo TEXT      restart the node, describe it, test the link\n"
          "  provision --site S --node N --broker URL --registry FILE --passwd FILE\n"
          "            --acl FILE [--sensors FILE] [--gateway-pid PID] [--broker-pid PID]\n"
          "                                give the node its identity, a new key and broker\n"
          "                                credentials; add it to the gateway's registry and\n"
          "                                the broker's password and ACL files, and reload them\n"
          "\n"
          "on the fleet, over MQTT (--broker URL --registry FILE):\n"
          "  rollout --image IMAGE --nodes GLOB --groups 10%,50%,100% --max-failures N\n"
          "          [--min-success P%] [--state FILE] [--window N] [--total-window N]\n"
          "          [--node-timeout DUR] | rollout --resume [--state FILE] [--max-failures N]\n"
          "                                update the nodes in groups; stop at N failures\n"
          "  status [--nodes GLOB] [--csv]  each node's version and update state\n"
          "\n"
          "options:\n"
          "      --json          one JSON object on stdout per command\n"
          "  -c, --conn CONN     the node's management port: serial:/dev/ttyX or udp:HOST:PORT\n"
          "  -h, --help          show this help and exit\n"
          "      --version       show the version and exit\n"
          "\n"
          "exit codes: 0 ok, 64 usage, 65 image or data refused, 66 input missing,\n"
          "69 node unreachable, 70 internal error, 73 cannot create output, 74 I/O error,\n"
          "76 the node answered garbage\n",
          to);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, CLI_OPT_JSON},
        {"conn", required_argument, NULL, 'c'},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    struct cf_opts o = {0};
    int c;
    cli_init(argv[0]);
    /* "+": options after the command belong to the command. */
    while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
        switch (c) {
        case CLI_OPT_JSON:
            o.json = 1;
            break;
        case 'c':
            o.conn = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case CLI_OPT_VERSION:
            return cli_print_version();
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind >= argc)
        return cli_usage_error("a command is missing");
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (strcmp(sub_argv[0], "keys") == 0)
        return cf_cmd_keys(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "image") == 0)
        return cf_cmd_image(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "echo") == 0)
        return cf_cmd_echo(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "reset") == 0)
        return cf_cmd_reset(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "info") == 0)
        return cf_cmd_info(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "provision") == 0)
        return cf_cmd_provision(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "rollout") == 0)
        return cf_cmd_rollout(&o, sub_argc, sub_argv);
    if (strcmp(sub_argv[0], "status") == 0)
        return cf_cmd_status(&o, sub_argc, sub_argv);
    return cli_usage_error("unknown command %s", sub_argv[0]);
}
