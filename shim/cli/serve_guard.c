#include "serve_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"

bool serve_token_create(struct serve_token *t, const char *path)
{
    unsigned char bytes[SERVE_TOKEN_BYTES];
    char tmp[PATH_MAX];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        cli_error("serve: no random bytes for the control token: %s", strerror(errno));
        return false;
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(t->text + 2 * i, 3, "%02x", bytes[i]);
    if (snprintf(t->path, sizeof t->path, "%s", path) >= (int)sizeof t->path ||
        snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        cli_error("serve: token file path is too long");
        return false;
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    bool ok = fd >= 0 && dprintf(fd, "%s\n", t->text) == (int)sizeof t->text;
    ok = (fd >= 0 && close(fd) == 0) && ok && rename(tmp, path) == 0;
    if (!ok) {
        cli_error("serve: cannot write the token file %s: %s", path, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    }
    return ok;
}

void serve_token_remove(const struct serve_token *t)
{
    char seen[sizeof t->text + 1] = "";
    FILE *f = fopen(t->path, "re");
    bool ours = f && fgets(seen, sizeof seen, f) && strncmp(seen, t->text, sizeof t->text - 1) == 0;
    if (f)
        fclose(f);
    if (ours)
        unlink(t->path);
}

/* True when host (a Host header: NAME[:PORT], [IPV6][:PORT]) names localhost
 * or an IP address, which no other site's name can stand for. */
static bool is_local_host(const char *host)
{
    char name[INET6_ADDRSTRLEN + 2], addr[16];
    bool v6 = host[0] == '[';
    const char *end = strchr(host, v6 ? ']' : ':');
    if (v6 && !end)
        return false;
    size_t len = end ? (size_t)(end - host) + v6 : strlen(host); /* [IPV6] with brackets */
    const char *port = host + len;
    if (len >= sizeof name || (*port && (port[0] != ':' || port[1] == '\0' ||
                                         strspn(port + 1, "0123456789") != strlen(port + 1))))
        return false;
    memcpy(name, host + v6, len - 2 * v6);
    name[len - 2 * v6] = '\0';
    if (v6)
        return inet_pton(AF_INET6, name, addr) == 1;
    return strcasecmp(name, "localhost") == 0 || inet_pton(AF_INET, name, addr) == 1;
}

/* True when the two strings of len bytes are equal, in a time that does not
 * say where they differ. */
static bool same_secret(const char *a, const char *b, size_t len)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

const char *serve_guard_refusal(const struct serve_token *t, const char *host, const char *origin,
                                const char *authorization, unsigned *status)
{
    static const char bearer[] = "Bearer ";
    *status = 403;
    if (host && !is_local_host(host))
        return "foreign Host: control answers requests to an IP address or localhost only";
    if (origin &&
        (!host || strncasecmp(origin, "http://", 7) != 0 || strcasecmp(origin + 7, host) != 0))
        return "foreign Origin: control answers no request from another web origin";
    *status = 401;
    size_t len = sizeof t->text - 1;
    if (!authorization || strncasecmp(authorization, bearer, sizeof bearer - 1) != 0 ||
        strlen(authorization + sizeof bearer - 1) != len ||
        !same_secret(authorization + sizeof bearer - 1, t->text, len))
        return "control needs the token: send \"Authorization: Bearer TOKEN\" with the token "
               "from the token file fusebox serve names at start";
    return NULL;
}
