/* fusebox status --all: the breakers of every state file in the places the
 * shim puts them, for every user whose file this user can read (root: all),
 * each labelled with its owner. Files are copied, never mapped or written,
 * so a file changed or truncated meanwhile costs a stale view, not a crash. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Where state files are: the shared system directory, then the per-user
 * defaults (state_default_path). */
static const char *const places[] = {"/run/fusebox/*", "/run/user/*/fusebox.state",
                                     "/dev/shm/fusebox-*.state", "/tmp/fusebox-*.state"};

/* One state file read: where, whose, and a private copy of its contents. */
struct snapshot {
    char path[PATH_MAX];
    struct stat sb;
    void *data; /* STATE_FILE_SIZE bytes */
};

/* Reads the state file at path into s; false, with the reason in why, when
 * it is not one or cannot be read (why NULL: there is no such file). */
static bool take(const char *path, struct snapshot *s, const char **why)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    size_t got = 0;
    *why = NULL;
    s->data = NULL;
    if (fd < 0 && errno == ENOENT)
        return false;
    if (fd < 0 || fstat(fd, &s->sb) != 0) {
        *why = strerror(errno);
    } else if (!S_ISREG(s->sb.st_mode)) {
        *why = "not a regular file";
    } else if ((size_t)s->sb.st_size != STATE_FILE_SIZE) {
        *why = "not a state file of this layout (wrong size)";
    } else if (!(s->data = malloc(STATE_FILE_SIZE))) {
        *why = "out of memory";
    }
    while (!*why && got < STATE_FILE_SIZE) {
        ssize_t n = pread(fd, (char *)s->data + got, STATE_FILE_SIZE - got, (off_t)got);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            *why = n < 0 ? strerror(errno) : "it shrank while being read";
        got += n > 0 ? (size_t)n : 0;
    }
    if (!*why && !state_header_is_valid(s->data))
        *why = "not a fusebox state file of this layout version";
    if (fd >= 0)
        close(fd);
    if (*why) {
        free(s->data);
        s->data = NULL;
        return false;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    return true;
}

/* Whether s is the same file as one of the n before it. */
static bool seen(const struct snapshot *list, size_t n, const struct snapshot *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].sb.st_dev == s->sb.st_dev && list[i].sb.st_ino == s->sb.st_ino)
            return true;
    return false;
}

/* Replaces what a terminal would act on in a name from another user's file. */
static void printable(char *name)
{
    for (unsigned char *c = (unsigned char *)name; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = '?';
}

static void owner_names(const struct stat *sb, char user[64], char group[64])
{
    const struct passwd *pw = getpwuid(sb->st_uid);
    const struct group *gr = getgrgid(sb->st_gid);
    snprintf(user, 64, "%s", pw ? pw->pw_name : "?");
    snprintf(group, 64, "%s", gr ? gr->gr_name : "?");
}

/* Prints one snapshot: a table labelled with its owner, or a JSON object. */
static void show(struct snapshot *s, bool json, bool first)
{
    struct state st = {
        .header = s->data,
        .slots = (struct state_slot *)((char *)s->data + STATE_HEADER_SIZE),
        .events = (struct state_event *)((char *)s->data + STATE_HEADER_SIZE +
                                         (size_t)STATE_SLOTS * STATE_SLOT_SIZE),
        .size = STATE_FILE_SIZE,
    };
    struct breaker_row *rows = NULL;
    size_t n = cli_read_rows(&st, &rows);
    char user[64], group[64], label[PATH_MAX + 200];
    owner_names(&s->sb, user, group);
    bool shared = state_group_shared(&s->sb);
    if (json) {
        printf("%s{\"state_file\": ", first ? "" : ", ");
        cli_json_string_to(stdout, s->path);
        printf(", \"owner\": ");
        cli_json_string_to(stdout, user);
        printf(", \"uid\": %u, \"group\": ", (unsigned)s->sb.st_uid);
        cli_json_string_to(stdout, group);
        printf(", \"shared\": %s, \"breakers\": ", shared ? "true" : "false");
        cli_breakers_json(stdout, rows, n);
        putchar('}');
    } else {
        for (size_t i = 0; i < n; i++)
            printable(rows[i].name);
        snprintf(label, sizeof label, "%s  (owner %s, uid %u%s%s)", s->path, user,
                 (unsigned)s->sb.st_uid, shared ? ", shared by group " : "", shared ? group : "");
        printf("%s", first ? "" : "\n");
        cli_status_table(label, rows, n, false);
    }
    free(rows);
}

/* Adds the state file at path to list (of *n, room for *cap) unless it is
 * there already; says on stderr why a file that exists is skipped. */
static void consider(const char *path, struct snapshot **list, size_t *n, size_t *cap)
{
    const char *why;
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".lock") == 0)
        return; /* the fleet agent's lock file */
    if (*n == *cap) {
        size_t more = *cap ? 2 * *cap : 8;
        struct snapshot *grown = realloc(*list, more * sizeof **list);
        if (!grown)
            return;
        *list = grown;
        *cap = more;
    }
    struct snapshot *s = &(*list)[*n];
    if (!take(path, s, &why)) {
        if (why)
            cli_error("status --all: %s: skipped: %s", path, why);
    } else if (seen(*list, *n, s)) {
        free(s->data);
    } else {
        ++*n;
    }
}

int cli_status_all(bool json)
{
    struct snapshot *found = NULL;
    size_t n = 0, cap = 0;
    char own[PATH_MAX];
    glob_t g = {0};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
        glob(places[i], i ? GLOB_APPEND : 0, NULL, &g);
    for (size_t i = 0; i < g.gl_pathc; i++)
        consider(g.gl_pathv[i], &found, &n, &cap);
    globfree(&g);
    /* This user's own file too, wherever FUSEBOX_STATE or TMPDIR put it. */
    if (cli_state_path(NULL, own))
        consider(own, &found, &n, &cap);
    fputs(json ? "{\"state_files\": [" : "", stdout);
    for (size_t i = 0; i < n; i++) {
        show(&found[i], json, i == 0);
        free(found[i].data);
    }
    if (json)
        printf("]}\n");
    else
        printf("%s%zu state file%s\n", n ? "\n" : "", n, n == 1 ? "" : "s");
    free(found);
    return EXIT_OK;
}
