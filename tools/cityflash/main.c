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

static const char *command; /* the command's words ("image sign") once known */

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

/* A command: its words ("image sign"), its help, the function that runs it. */
struct verb {
    const char *name;
    const char *help; /* the lines after "usage: cityflash [--json] [--conn CONN] " */
    int (*run)(const struct cf_opts *o, int argc, char **argv);
};

static const struct verb verbs[] = {
    {"keys",
     "keys new FILE\n"
     "\n"
     "Makes an ed25519 signing key: FILE (the private key, mode 0600; keep it on this\n"
     "machine) and FILE.pub (for the nodes). Existing files are never overwritten.\n",
     cf_cmd_keys},
    {"image sign",
     "image sign --key KEY --version V [--security-counter N] [--cid UUID] PAYLOAD OUT\n"
     "\n"
     "Makes the signed MCUboot image OUT of PAYLOAD.\n"
     "\n"
     "  --key KEY               the private key (cityflash keys new)\n"
     "  --version V             MAJOR.MINOR.REVISION[+BUILD]\n"
     "  --security-counter N    0 to 4294967295 (default 0); a node refuses an image\n"
     "                          whose counter is below the one it runs\n"
     "  --cid UUID              the hardware class the image is built for (MCUboot's\n"
     "                          UUID_CID); a node of another class refuses it\n",
     cf_cmd_image},
    {"image verify",
     "image verify [--key PUB]... IMAGE\n"
     "\n"
     "Checks IMAGE's header, hash and (with --key) signature and prints its version,\n"
     "security counter, hardware class, sizes and SHA-256.\n"
     "\n"
     "  --key PUB               a public key the signature may match (up to 8)\n",
     cf_cmd_image},
    {"image",
     "--conn CONN image list | upload IMAGE | test HASH | confirm [HASH]\n"
     "       cityflash image sign ... | image verify ...   (local files; see\n"
     "       `cityflash image sign --help`, `cityflash image verify --help`)\n"
     "\n"
     "On a node, over its management port:\n"
     "  list            the node's slots: version, hash and flags of each image\n"
     "  upload IMAGE    send IMAGE to the secondary slot (resumes where it stopped)\n"
     "  test HASH       boot that image once at the next start\n"
     "  confirm [HASH]  keep the running image for good (or the image HASH)\n",
     cf_cmd_image},
    {"echo",
     "--conn CONN echo TEXT\n\nSends TEXT to the node, which sends it back: tests the link.\n",
     cf_cmd_echo},
    {"reset", "--conn CONN reset\n\nRestarts the node.\n", cf_cmd_reset},
    {"info", "--conn CONN info\n\nDescribes the node (what it runs, on what).\n", cf_cmd_info},
    {"provision",
     "--conn CONN provision --site S --node N --broker URL --registry FILE\n"
     "           --passwd FILE --acl FILE [--sensors FILE] [--gateway-pid PID]\n"
     "           [--broker-pid PID]\n"
     "\n"
     "Gives the node its identity, a new key and broker credentials; adds it to the\n"
     "gateway's registry and the broker's password and ACL files, and reloads them.\n"
     "\n"
     "  --site S, --node N      the node's site and id ([A-Za-z0-9._-], 1 to 64)\n"
     "  --broker URL            the broker the node publishes to\n"
     "  --registry FILE         the gateway's device registry\n"
     "  --passwd FILE           the broker's password file\n"
     "  --acl FILE              the broker's ACL file\n"
     "  --sensors FILE          the node's sensor sections\n"
     "  --gateway-pid PID       a gateway to send SIGHUP (reload the registry)\n"
     "  --broker-pid PID        a broker to send SIGHUP (reload passwords and ACLs)\n",
     cf_cmd_provision},
    {"rollout",
     "rollout --image IMAGE --nodes GLOB --groups P%,...,100%\n"
     "           --max-failures N [--min-success P%] --broker URL --registry FILE\n"
     "           [--state FILE] [--window N] [--total-window N] [--node-timeout DUR]\n"
     "           [--cancel-timeout DUR]\n"
     "       cityflash rollout --resume [--state FILE] [--max-failures N]\n"
     "\n"
     "Sends the signed IMAGE over MQTT to the registry's nodes matching GLOB, in groups;\n"
     "stops at N failed nodes (docs/rollouts.md).\n"
     "\n"
     "  --image IMAGE           the signed image (cityflash image sign)\n"
     "  --nodes GLOB            the registry's nodes to update (a shell glob)\n"
     "  --groups P%,...,100%    where the groups end, as rising shares of the nodes\n"
     "  --max-failures N        stop at N nodes REVERTED or FAILED\n"
     "  --min-success P%        a group's share CONFIRMED before the next starts (100%)\n"
     "  --broker URL            the fleet's broker (tcp://HOST:1883)\n"
     "  --registry FILE         the gateway's device registry (the nodes' keys)\n"
     "  --state FILE            the settings and the cancelled nodes (rollout.state)\n"
     "  --window N              unanswered blocks per node, 1 to 256 (4)\n"
     "  --total-window N        unanswered blocks in all, up to 60000 (64)\n"
     "  --node-timeout DUR      park a node offline or without progress this long (10m)\n"
     "  --cancel-timeout DUR    at a stop, how long to wait for a node's answer to the\n"
     "                          cancel, sending it again meanwhile (30s)\n"
     "  --resume                go on with the rollout of the state file\n"
     "\n"
     "exit codes: 0 every group done, 65 stopped, 64 usage, 66 no image or state file,\n"
     "69 broker unreachable, 73 cannot write the state file\n",
     cf_cmd_rollout},
    {"status",
     "status --broker URL --registry FILE [--nodes GLOB] [--wait DUR] [--csv]\n"
     "\n"
     "Each node's version and update state, from the nodes' retained births and\n"
     "reports: a table, --csv or (with --json) one JSON object.\n"
     "\n"
     "  --broker URL            the fleet's broker (tcp://HOST:1883)\n"
     "  --registry FILE         the gateway's device registry (the nodes' keys)\n"
     "  --nodes GLOB            the nodes to show (a shell glob; all)\n"
     "  --wait DUR              how long to gather the retained messages (2s)\n"
     "  --csv                   CSV with a header line instead of a table\n",
     cf_cmd_status},
};
#define N_VERBS (sizeof verbs / sizeof verbs[0])

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
          "          [--node-timeout DUR] [--cancel-timeout DUR]\n"
          "          | rollout --resume [--state FILE] [--max-failures N]\n"
          "                                update the nodes in groups; stop at N failures\n"
          "  status [--nodes GLOB] [--wait DUR] [--csv]\n"
          "                                each node's version and update state\n"
          "\n"
          "Each command has its own help: cityflash COMMAND --help.\n"
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

/* The command argv names: "image sign" before "image"; NULL for none. */
static const struct verb *find_verb(int argc, char **argv)
{
    for (size_t i = 0; i < N_VERBS; i++) {
        const char *sp = strchr(verbs[i].name, ' ');
        if (!sp && strcmp(argv[0], verbs[i].name) == 0)
            return &verbs[i];
        if (sp && argc > 1 && strncmp(argv[0], verbs[i].name, (size_t)(sp - verbs[i].name)) == 0 &&
            argv[0][sp - verbs[i].name] == '\0' && strcmp(argv[1], sp + 1) == 0)
            return &verbs[i];
    }
    return NULL;
}

/* -h or --help among a command's arguments (before a "--"). */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int cf_usage(const struct cf_opts *o, const char *fmt, ...)
{
    char why[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
    }
    if (!o->json)
        return fmt ? cli_usage_error("%s", why) : cli_usage_error(NULL);
    return cf_fail(o, EX_USAGE, "%s%ssee '%s %s --help'%s", why, fmt ? " (" : "", cli_prog(),
                   command ? command : "", fmt ? ")" : "");
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
    const struct verb *v = find_verb(sub_argc, sub_argv);
    if (!v)
        return cli_usage_error("unknown command %s", sub_argv[0]);
    command = v->name;
    cli_set_command(command);
    if (wants_help(sub_argc, sub_argv)) {
        printf("usage: cityflash [--json] %s", v->help);
        return 0;
    }
    return v->run(&o, sub_argc, sub_argv);
}
