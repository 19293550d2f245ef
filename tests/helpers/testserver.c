/* testserver.c — a loopback server for fusebox's bats tests.
 *
 * Serves one of several misbehaviours on 127.0.0.1 and/or ::1 so a test can
 * make a host answer, refuse, stall or swallow connects, count what arrived,
 * and switch behaviour on SIGUSR1 without giving up the port. One process,
 * one ppoll(2) loop, no threads: every socket is non-blocking, so no single
 * client can hold the server up, and the whole process exits by itself after
 * --max-seconds. Only loopback addresses are accepted for --bind. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 2
#define MAX_EXTRA_HEADERS 16
#define MAX_FILLERS 4
#define LISTEN_BACKLOG 256
#define IN_CAP 16384        /* request head limit and input buffer size */
#define FILL_WAIT_MS 100    /* how long a self-connect may take before the queue counts as full */
#define VERIFY_WAIT_MS 200  /* how long the blackhole check waits for a connect to complete */
#define ACCEPT_PAUSE_MS 100 /* back-off after accept() ran out of descriptors */
#define MODE_FILE_MAX 4096

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ---- modes ------------------------------------------------------------ */

enum mode_kind {
    MODE_NONE,
    MODE_HTTP,
    MODE_REFUSE,
    MODE_STALL,
    MODE_BLACKHOLE,
    MODE_ACCEPT,
    MODE_LISTEN,
    MODE_RESET,
    MODE_RESETHEAD,
    MODE_DROP,
};

static const char *const mode_names[] = {
    [MODE_NONE] = "none",     [MODE_HTTP] = "http",           [MODE_REFUSE] = "refuse",
    [MODE_STALL] = "stall",   [MODE_BLACKHOLE] = "blackhole", [MODE_ACCEPT] = "accept",
    [MODE_LISTEN] = "listen", [MODE_RESET] = "reset",         [MODE_RESETHEAD] = "resethead",
    [MODE_DROP] = "drop",
};

/* What one listening address does; status is meaningful for MODE_HTTP only. */
struct mode {
    enum mode_kind kind;
    int status;
};

/* ---- state ------------------------------------------------------------ */

struct options {
    struct mode mode;    /* positional MODE [STATUS]; the v4 (or only) socket */
    struct mode v6_mode; /* --v6-mode; kind MODE_NONE when not given */
    const char *bind_addr;
    bool dual;
    unsigned port;
    const char *port_file, *count_file, *pid_file, *mode_file, *mode_ack;
    const char *body; /* NULL: "status N from testserver\n" */
    const char *headers[MAX_EXTRA_HEADERS];
    int nheaders;
    unsigned hold_ms;
    unsigned max_seconds;
    unsigned long after_requests; /* --after N:STATUS: from request N + 1 on, answer after_status */
    int after_status;
    bool verbose;
};

/* One bound address. fd is bound (and listening when `listening`) or -1. */
struct listener {
    int fd;
    struct sockaddr_storage addr; /* port filled in once bound */
    socklen_t addrlen;
    struct mode mode;
    bool listening;
    int fillers[MAX_FILLERS]; /* blackhole: our own connections sitting in the accept queue */
    int nfillers;
};

enum conn_state {
    CONN_STALL, /* read and discard until the peer closes */
    CONN_HEAD,  /* reading a request head */
    CONN_BODY,  /* discarding a request body */
    CONN_HOLD,  /* waiting hold_until before answering */
    CONN_SEND,  /* writing out[] */
};

enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER };

/* One accepted connection. */
struct conn {
    int fd;
    int owner; /* index into srv.lis */
    enum conn_state state;
    short revents;
    bool close_after; /* close once the current response is out */
    bool head_only;   /* HEAD request: no body in the response */
    enum body_kind body;
    enum chunk_state chunk;
    uint64_t body_left;
    int64_t hold_until;
    char *out;
    size_t out_len, out_off;
    size_t in_len;
    char in[IN_CAP];
};

struct counts {
    uint64_t connections, requests;
    unsigned open, max_concurrent;
};

static struct {
    struct options opt;
    struct listener lis[MAX_LISTENERS];
    int nlis;
    struct conn **conns;
    size_t nconns, capconns;
    struct counts counts;
    int64_t deadline_ms;
    int64_t accept_pause_until;
} srv;

static volatile sig_atomic_t got_stop, got_usr1;

/* ---- small utilities -------------------------------------------------- */

/* Prints "testserver: MSG" to stderr. */
static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errmsg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("testserver: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Like errmsg, but only with --verbose. */
static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    if (!srv.opt.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "testserver[%ld]: ", (long)getpid());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Milliseconds of CLOCK_MONOTONIC. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses a decimal number of at most max into *out. Returns 0, or -1 if s is
 * not all digits or too large. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return -1;
    unsigned long v = strtoul(s, NULL, 10);
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Replaces the file at path by one holding text: writes PATH.tmp.PID, then
 * rename(2)s it over, so a reader sees the old or the new file, never a
 * partial one. Returns 0, or -1 with errno set. */
static int write_file_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* write_file_atomic, reporting a failure on stderr. Returns 0 or -1. */
static int publish(const char *path, const char *text)
{
    if (write_file_atomic(path, text) == 0)
        return 0;
    errmsg("cannot write %s: %s", path, strerror(errno));
    return -1;
}

/* ---- addresses -------------------------------------------------------- */

/* Parses a loopback literal (127.0.0.0/8 or ::1) with port into *ss.
 * Returns its length, or 0 if addr is not a loopback literal. */
static socklen_t loopback_addr(const char *addr, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        if ((ntohl(in4->sin_addr.s_addr) >> 24) != 127)
            return 0;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return sizeof *in4;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 0;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return sizeof *in6;
    }
    return 0;
}

/* The port of an AF_INET or AF_INET6 address. */
static unsigned addr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* Sets the port of an AF_INET or AF_INET6 address. */
static void addr_set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* "v4" or "v6", for messages and the mode ack. */
static const char *family_tag(const struct listener *l)
{
    return l->addr.ss_family == AF_INET6 ? "v6" : "v4";
}

/* ---- modes ------------------------------------------------------------ */

/* True when the mode reads HTTP requests. */
static bool mode_reads_requests(enum mode_kind k)
{
    return k == MODE_HTTP || k == MODE_RESET || k == MODE_RESETHEAD;
}

/* True when the mode accepts connections. */
static bool mode_accepts(enum mode_kind k)
{
    return mode_reads_requests(k) || k == MODE_STALL || k == MODE_ACCEPT || k == MODE_DROP;
}

/* True when the mode needs a listening socket with a normal backlog. */
static bool mode_listens(enum mode_kind k)
{
    return mode_accepts(k) || k == MODE_LISTEN;
}

/* Parses mode word kind and optional status word (NULL if absent) into *out.
 * "http" without a status means 200. Returns 0, or -1 with a message in err. */
static int parse_mode(const char *kind, const char *status, struct mode *out, char *err,
                      size_t errlen)
{
    for (int k = MODE_HTTP; k <= MODE_DROP; k++) {
        if (strcmp(kind, mode_names[k]) != 0)
            continue;
        out->kind = (enum mode_kind)k;
        out->status = 0;
        if (k != MODE_HTTP) {
            if (status == NULL)
                return 0;
            snprintf(err, errlen, "mode %s takes no status", kind);
            return -1;
        }
        unsigned long v = 200;
        if (status != NULL && (parse_uint(status, 599, &v) != 0 || v < 200)) {
            snprintf(err, errlen, "bad HTTP status '%s' (200..599)", status);
            return -1;
        }
        out->status = (int)v;
        return 0;
    }
    snprintf(err, errlen,
             "unknown mode '%s' (http, refuse, stall, blackhole, accept, listen, reset, resethead, "
             "drop)",
             kind);
    return -1;
}

/* Parses one line "[v4|v6] MODE [STATUS]" (modified in place) into *out and
 * *family (AF_INET, AF_INET6, or AF_UNSPEC for no prefix). Returns 1 for a
 * mode, 0 for a blank or '#' line, -1 with a message in err. */
static int parse_mode_line(char *line, struct mode *out, int *family, char *err, size_t errlen)
{
    char *words[4], *save = NULL;
    int n = 0;
    for (char *w = strtok_r(line, " \t\r\n", &save); w != NULL;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == 4) {
            snprintf(err, errlen, "too many words in mode line");
            return -1;
        }
        words[n++] = w;
    }
    if (n == 0 || words[0][0] == '#')
        return 0;
    int first = 0;
    *family = AF_UNSPEC;
    if (strcmp(words[0], "v4") == 0 || strcmp(words[0], "v6") == 0) {
        *family = words[0][1] == '4' ? AF_INET : AF_INET6;
        first = 1;
    }
    if (n - first < 1 || n - first > 2) {
        snprintf(err, errlen, "mode line must be [v4|v6] MODE [STATUS]");
        return -1;
    }
    return parse_mode(words[first], n - first == 2 ? words[first + 1] : NULL, out, err, errlen) == 0
               ? 1
               : -1;
}

/* Writes "MODE" or "http STATUS" into buf. */
static void format_mode(struct mode m, char *buf, size_t len)
{
    if (m.kind == MODE_HTTP)
        snprintf(buf, len, "http %d", m.status);
    else
        snprintf(buf, len, "%s", mode_names[m.kind]);
}

/* ---- counters --------------------------------------------------------- */

/* Rewrites --count-file with the current totals, if one was given. */
static void counts_publish(void)
{
    if (srv.opt.count_file == NULL)
        return;
    char buf[160];
    snprintf(buf, sizeof buf, "connections %" PRIu64 "\nrequests %" PRIu64 "\nmax_concurrent %u\n",
             srv.counts.connections, srv.counts.requests, srv.counts.max_concurrent);
    publish(srv.opt.count_file, buf);
}

/* Counts one newly accepted connection as open. */
static void counts_opened(void)
{
    srv.counts.connections++;
    srv.counts.open++;
    if (srv.counts.open > srv.counts.max_concurrent)
        srv.counts.max_concurrent = srv.counts.open;
}

/* ---- connections ------------------------------------------------------ */

/* Adds accepted socket fd, owned by listener owner, in the state its mode
 * needs. Returns 0, or -1 when out of memory (fd is then left to the caller). */
static int conn_add(int fd, int owner)
{
    if (srv.nconns == srv.capconns) {
        size_t cap = srv.capconns ? srv.capconns * 2 : 16;
        struct conn **n = realloc(srv.conns, cap * sizeof *n);
        if (n == NULL)
            return -1;
        srv.conns = n;
        srv.capconns = cap;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->fd = fd;
    c->owner = owner;
    c->state = mode_reads_requests(srv.lis[owner].mode.kind) ? CONN_HEAD : CONN_STALL;
    srv.conns[srv.nconns++] = c;
    return 0;
}

/* Closes connection i and moves the last one into its slot, so callers that
 * walk srv.conns must walk it backwards. */
static void conn_close(size_t i)
{
    struct conn *c = srv.conns[i];
    close(c->fd);
    free(c->out);
    free(c);
    srv.conns[i] = srv.conns[--srv.nconns];
    srv.counts.open--;
}

/* Closes every connection accepted by listener owner. */
static void conns_close_owned(int owner)
{
    for (size_t i = srv.nconns; i-- > 0;)
        if (srv.conns[i]->owner == owner)
            conn_close(i);
}

/* Drops the first n bytes of c's input buffer. */
static void conn_take(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Finds the end of a request head (an empty line, CRLF or bare LF) in buf.
 * Returns its length including the empty line, or 0 if not yet complete. */
static size_t find_head_end(const char *buf, size_t len)
{
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))) != NULL; p++) {
        size_t i = (size_t)(p - buf);
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Splits the next line off [*p, end): sets *line and *len (without CR/LF)
 * and advances *p past the LF. Returns false at end. */
static bool next_line(char **p, char *end, char **line, size_t *len)
{
    if (*p >= end)
        return false;
    char *nl = memchr(*p, '\n', (size_t)(end - *p));
    char *stop = nl ? nl : end;
    *line = *p;
    *len = (size_t)(stop - *p);
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl ? nl + 1 : end;
    return true;
}

/* True when header name [name, name+len) equals want, ignoring case. */
static bool header_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* True when the comma/space separated list [v, v+len) holds token, ignoring case. */
static bool list_has(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= len; i++) {
        bool start = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
        bool stop = i + tl == len || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == ';';
        if (start && stop && strncasecmp(v + i, token, tl) == 0)
            return true;
    }
    return false;
}

/* Request-head facts the response and the body framing depend on. */
struct head_info {
    bool http10, head, want_close, want_keep, chunked, expect_continue;
    bool have_length;
    uint64_t length;
};

/* Parses "METHOD TARGET HTTP/1.x" into *h. Returns 0, or -1 if malformed. */
static int parse_request_line(const char *line, size_t len, struct head_info *h)
{
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return -1;
    size_t vlen = len - (size_t)(sp2 + 1 - line);
    if (vlen != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return -1;
    h->http10 = sp2[8] == '0';
    h->head = sp1 - line == 4 && strncmp(line, "HEAD", 4) == 0;
    return 0;
}

/* Folds one "Name: value" header line into *h. Returns 0, or -1 if malformed. */
static int parse_header_line(const char *line, size_t len, struct head_info *h)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return -1;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1, *vend = line + len;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    size_t vlen = (size_t)(vend - v);
    if (header_is(line, nlen, "content-length")) {
        char num[24];
        unsigned long long n;
        if (vlen == 0 || vlen >= sizeof num)
            return -1;
        for (size_t i = 0; i < vlen; i++)
            if (v[i] < '0' || v[i] > '9')
                return -1;
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        n = strtoull(num, NULL, 10);
        if (h->have_length && h->length != n)
            return -1;
        h->have_length = true;
        h->length = n;
    } else if (header_is(line, nlen, "transfer-encoding")) {
        h->chunked = h->chunked || list_has(v, vlen, "chunked");
    } else if (header_is(line, nlen, "connection")) {
        h->want_close = h->want_close || list_has(v, vlen, "close");
        h->want_keep = h->want_keep || list_has(v, vlen, "keep-alive");
    } else if (header_is(line, nlen, "expect")) {
        h->expect_continue = list_has(v, vlen, "100-continue");
    }
    return 0;
}

/* Sends a small control message (best effort: a full socket buffer drops it). */
static void send_small(int fd, const char *msg)
{
    (void)send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Parses the request head at the start of c->in when it is complete: removes
 * it, and sets c's body framing, keep-alive and HEAD flags. Returns 1 when
 * parsed, 0 when more bytes are needed, -1 when the head is malformed or
 * longer than IN_CAP. */
static int conn_parse_head(struct conn *c)
{
    size_t skip = 0; /* RFC 9112 lets a client send empty lines first */
    while (skip < c->in_len && (c->in[skip] == '\r' || c->in[skip] == '\n'))
        skip++;
    conn_take(c, skip);
    size_t head_len = find_head_end(c->in, c->in_len);
    if (head_len == 0)
        return c->in_len >= IN_CAP ? -1 : 0;

    struct head_info h = {0};
    char *p = c->in, *end = c->in + head_len, *line;
    size_t len;
    if (!next_line(&p, end, &line, &len) || parse_request_line(line, len, &h) != 0)
        return -1;
    while (next_line(&p, end, &line, &len) && len > 0)
        if (parse_header_line(line, len, &h) != 0)
            return -1;
    conn_take(c, head_len);

    c->close_after = h.want_close || (h.http10 && !h.want_keep);
    c->head_only = h.head;
    c->body = h.chunked ? BODY_CHUNKED : h.length > 0 ? BODY_LENGTH : BODY_NONE;
    c->chunk = CHUNK_SIZE;
    c->body_left = h.chunked ? 0 : h.length;
    if (h.expect_continue && !h.http10 && c->body != BODY_NONE)
        send_small(c->fd, "HTTP/1.1 100 Continue\r\n\r\n");
    return 1;
}

/* Removes one complete line of a chunked body from c->in and copies it (cut
 * to cap - 1 bytes, without CR/LF, NUL-terminated) to line. Returns its full
 * length, -1 if no full line is buffered yet, -2 if it cannot fit in IN_CAP. */
static long conn_take_line(struct conn *c, char *line, size_t cap)
{
    char *nl = memchr(c->in, '\n', c->in_len);
    if (nl == NULL)
        return c->in_len >= IN_CAP ? -2 : -1;
    size_t n = (size_t)(nl - c->in);
    size_t keep = n > 0 && c->in[n - 1] == '\r' ? n - 1 : n;
    size_t copy = keep < cap - 1 ? keep : cap - 1;
    memcpy(line, c->in, copy);
    line[copy] = '\0';
    conn_take(c, n + 1);
    return (long)keep;
}

/* Discards as much of the current request body as is buffered. Returns 1
 * when the body is complete, 0 when more bytes are needed, -1 if malformed. */
static int conn_discard_body(struct conn *c)
{
    char line[64];
    for (;;) {
        if (c->body == BODY_NONE)
            return 1;
        if (c->body == BODY_LENGTH || c->chunk == CHUNK_DATA) {
            size_t n = c->body_left < c->in_len ? (size_t)c->body_left : c->in_len;
            conn_take(c, n);
            c->body_left -= n;
            if (c->body_left > 0)
                return 0;
            if (c->body == BODY_LENGTH)
                return 1;
            c->chunk = CHUNK_DATA_END;
            continue;
        }
        long len = conn_take_line(c, line, sizeof line);
        if (len == -1)
            return 0;
        if (len == -2)
            return -1;
        if (c->chunk == CHUNK_SIZE) {
            char *endp;
            errno = 0;
            unsigned long long size = strtoull(line, &endp, 16);
            if (endp == line || errno != 0 || (*endp != '\0' && *endp != ';' && *endp != ' '))
                return -1;
            c->body_left = size;
            c->chunk = size == 0 ? CHUNK_TRAILER : CHUNK_DATA;
        } else if (c->chunk == CHUNK_DATA_END) {
            if (len != 0)
                return -1;
            c->chunk = CHUNK_SIZE;
        } else if (len == 0) { /* CHUNK_TRAILER: an empty line ends the body */
            return 1;
        }
    }
}

/* The reason phrase for an HTTP status code. */
static const char *reason_phrase(int status)
{
    static const struct {
        int code;
        const char *text;
    } table[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {413, "Content Too Large"},
        {418, "I'm a teapot"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {425, "Too Early"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == status)
            return table[i].text;
    return "Status";
}

/* Builds the response to c's request into c->out: the status line, fixed and
 * --header headers, and the body (--body or "status N from testserver\n";
 * none for HEAD, 204 and 304). extra_headers is false for error answers.
 * Returns 0, or -1 when out of memory. */
static int conn_build_response(struct conn *c, int status, const char *body, bool extra_headers)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return -1;
    bool has_body = status != 204 && status != 304;
    fprintf(f, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    fputs("Server: fusebox-testserver\r\nContent-Type: text/plain\r\n", f);
    if (has_body)
        fprintf(f, "Content-Length: %zu\r\n", strlen(body));
    fprintf(f, "Connection: %s\r\n", c->close_after ? "close" : "keep-alive");
    for (int i = 0; extra_headers && i < srv.opt.nheaders; i++)
        fprintf(f, "%s\r\n", srv.opt.headers[i]);
    fputs("\r\n", f);
    if (has_body && !c->head_only)
        fputs(body, f);
    if (fclose(f) != 0) {
        free(buf);
        return -1;
    }
    free(c->out);
    c->out = buf;
    c->out_len = len;
    c->out_off = 0;
    return 0;
}

/* Prepares the answer to c's complete request in its listener's current
 * status, counting the request first so the count file is up to date before
 * the client can see the answer. Returns 0, or -1 when out of memory. */
static int conn_respond(struct conn *c)
{
    int status = srv.lis[c->owner].mode.status;
    if (srv.opt.after_status && srv.counts.requests >= srv.opt.after_requests)
        status = srv.opt.after_status;
    char defbody[64];
    snprintf(defbody, sizeof defbody, "status %d from testserver\n", status);
    srv.counts.requests++;
    counts_publish();
    logmsg("request answered %d (%s)", status, family_tag(&srv.lis[c->owner]));
    c->state = CONN_SEND;
    return conn_build_response(c, status, srv.opt.body ? srv.opt.body : defbody, true);
}

/* Prepares a "400 Bad Request" answer after which c is closed. */
static int conn_respond_bad(struct conn *c)
{
    c->close_after = true;
    c->head_only = false;
    c->state = CONN_SEND;
    logmsg("bad request");
    return conn_build_response(c, 400, "bad request\n", false);
}

/* Writes as much of c->out as the socket takes. Returns 1 when all is out, 0
 * when the socket is full, -1 on error. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->out_off += (size_t)n;
    }
    return 1;
}

/* The reset modes: counts the request, sends the start of a head (resethead)
 * and makes the close that follows a reset (SO_LINGER 0). */
static void conn_reset(struct conn *c)
{
    srv.counts.requests++;
    counts_publish();
    if (srv.lis[c->owner].mode.kind == MODE_RESETHEAD)
        send_small(c->fd, "HTTP/1.1 200 OK\r\nServer: fusebox-testserver\r\nContent-");
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    logmsg("request reset");
}

/* Runs an HTTP connection's state machine as far as it goes without waiting:
 * parse heads, discard bodies, hold, answer, and go on with pipelined
 * requests. Returns false when the connection is to be closed. */
static bool conn_advance(struct conn *c, int64_t now)
{
    for (;;) {
        int r;
        switch (c->state) {
        case CONN_STALL:
            return true;
        case CONN_HEAD:
            r = conn_parse_head(c);
            if (r == 0)
                return true;
            if (r < 0) {
                if (conn_respond_bad(c) != 0)
                    return false;
                break;
            }
            c->state = CONN_BODY;
            break;
        case CONN_BODY:
            r = conn_discard_body(c);
            if (r == 0)
                return true;
            if (r < 0) {
                if (conn_respond_bad(c) != 0)
                    return false;
                break;
            }
            c->state = CONN_HOLD;
            c->hold_until = now + srv.opt.hold_ms;
            break;
        case CONN_HOLD:
            if (now < c->hold_until)
                return true;
            if (srv.lis[c->owner].mode.kind != MODE_HTTP) {
                conn_reset(c);
                return false;
            }
            if (conn_respond(c) != 0)
                return false;
            break;
        case CONN_SEND:
            r = conn_flush(c);
            if (r <= 0)
                return r == 0;
            if (c->close_after) {
                shutdown(c->fd, SHUT_WR);
                return false;
            }
            c->state = CONN_HEAD;
            break;
        }
    }
}

/* Reads what is available from c. For a stalled connection the bytes are
 * dropped. Returns false when the peer closed or failed. */
static bool conn_read(struct conn *c)
{
    char scratch[4096];
    char *dst = c->state == CONN_STALL ? scratch : c->in + c->in_len;
    size_t room = c->state == CONN_STALL ? sizeof scratch : IN_CAP - c->in_len;
    if (room == 0)
        return true; /* the state machine decides what a full buffer means */
    ssize_t n = recv(c->fd, dst, room, 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0 || srv.lis[c->owner].mode.kind == MODE_DROP)
        return false;
    if (c->state != CONN_STALL)
        c->in_len += (size_t)n;
    return true;
}

/* Handles c's poll result (c->revents) and whatever its state allows now.
 * Returns false when the connection is to be closed. */
static bool conn_step(struct conn *c, int64_t now)
{
    if (c->revents & (POLLIN | POLLHUP | POLLERR)) {
        if (c->state == CONN_STALL || c->state == CONN_HEAD || c->state == CONN_BODY) {
            if (!conn_read(c))
                return false;
        } else if (c->revents & POLLERR) {
            return false;
        }
    }
    return conn_advance(c, now);
}

/* The poll(2) events c waits for in its state. */
static short conn_events(const struct conn *c)
{
    switch (c->state) {
    case CONN_STALL:
    case CONN_HEAD:
    case CONN_BODY:
        return POLLIN;
    case CONN_SEND:
        return POLLOUT;
    case CONN_HOLD:
        break;
    }
    return 0;
}

/* ---- listeners -------------------------------------------------------- */

/* Sets SO_REUSEADDR on fd to on. Returns 0 or -1. */
static int set_reuse(int fd, int on)
{
    return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
}

/* Creates l's socket (non-blocking, SO_REUSEADDR, v6-only for ::1) and binds
 * it to l->addr, recording the port the kernel chose when it was 0. Leaves
 * l->fd bound but not listening. Returns 0, or -1 with errno set. */
static int listener_bind(struct listener *l)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (set_reuse(fd, 1) != 0 ||
        (l->addr.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&l->addr, l->addrlen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    socklen_t len = l->addrlen;
    getsockname(fd, (struct sockaddr *)&l->addr, &len);
    l->fd = fd;
    l->listening = false;
    return 0;
}

/* Closes l's socket and the self-connections that filled its queue. */
static void listener_close(struct listener *l)
{
    for (int i = 0; i < l->nfillers; i++)
        close(l->fillers[i]);
    l->nfillers = 0;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->listening = false;
}

/* Starts a non-blocking connect to l from a fresh socket and waits up to ms
 * for it to complete. Returns 1 if it completed (the socket is stored in
 * *connected), 0 if it was still pending (the socket is closed), -1 with a
 * message in err if it failed. */
static int probe_connect(const struct listener *l, int ms, int *connected, char *err, size_t errlen)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int e = 0;
    if (connect(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0 && errno != EINPROGRESS)
        e = errno;
    if (e == 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r;
        while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
            ;
        if (r == 0) {
            close(fd);
            return 0;
        }
        socklen_t len = sizeof e;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
    }
    if (e != 0) {
        close(fd);
        snprintf(err, errlen, "self-connect failed: %s", strerror(e));
        return -1;
    }
    *connected = fd;
    return 1;
}

/* Turns l (bound, not listening) into a black hole: listen(fd, 0), then
 * connect to it from our own sockets until a connect no longer completes
 * within FILL_WAIT_MS, which means the kernel now drops SYNs because the
 * accept queue is full; then checks once more that a connect does not
 * complete within VERIFY_WAIT_MS. Returns 0, or -1 with a message in err. */
static int blackhole_start(struct listener *l, char *err, size_t errlen)
{
    if (listen(l->fd, 0) != 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        return -1;
    }
    l->listening = true;
    int r = 1;
    while (r == 1 && l->nfillers < MAX_FILLERS) {
        r = probe_connect(l, FILL_WAIT_MS, &l->fillers[l->nfillers], err, errlen);
        if (r < 0)
            return -1;
        l->nfillers += r;
    }
    int extra = -1;
    if (r == 0)
        r = probe_connect(l, VERIFY_WAIT_MS, &extra, err, errlen);
    if (r < 0)
        return -1;
    if (r == 1) {
        if (extra >= 0)
            close(extra);
        snprintf(err, errlen,
                 "blackhole check failed: a connect to port %u still completes after %d "
                 "self-connects (does this kernel drop SYNs on a full accept queue?)",
                 addr_port(&l->addr), l->nfillers);
        return -1;
    }
    logmsg("%s blackhole: accept queue filled with %d connection(s)", family_tag(l), l->nfillers);
    return 0;
}

/* Moves listener idx to mode m, keeping its address and port: connections of
 * the old mode are closed when the kind changes; refuse is a bound socket
 * without listen() and without SO_REUSEADDR (so nobody can share the port);
 * http/stall/accept listen with a normal backlog; blackhole listens with
 * backlog 0 and a full queue. A listening socket that must stop listening is
 * closed and the port bound again. Returns 0, or -1 with a message in err,
 * after which the listener's state is undefined. */
static int listener_set_mode(int idx, struct mode m, char *err, size_t errlen)
{
    struct listener *l = &srv.lis[idx];
    struct mode old = l->mode;
    if (old.kind == m.kind) {
        l->mode = m;
        return 0;
    }
    conns_close_owned(idx);
    if (l->listening && (!mode_listens(m.kind) || old.kind == MODE_BLACKHOLE)) {
        listener_close(l);
        if (listener_bind(l) != 0) {
            snprintf(err, errlen, "re-binding port %u: %s", addr_port(&l->addr), strerror(errno));
            return -1;
        }
    }
    l->mode = m;
    if (set_reuse(l->fd, m.kind != MODE_REFUSE) != 0) {
        snprintf(err, errlen, "SO_REUSEADDR: %s", strerror(errno));
        return -1;
    }
    if (m.kind == MODE_BLACKHOLE)
        return blackhole_start(l, err, errlen);
    if (mode_listens(m.kind) && !l->listening) {
        if (listen(l->fd, LISTEN_BACKLOG) != 0) {
            snprintf(err, errlen, "listen: %s", strerror(errno));
            return -1;
        }
        l->listening = true;
    }
    return 0;
}

/* Accepts every pending connection on listener idx: counts it, publishes the
 * counts, then closes it (accept mode) or adds it to the loop. */
static void listener_accept(int idx, int64_t now)
{
    struct listener *l = &srv.lis[idx];
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                errmsg("accept: %s; pausing", strerror(errno));
                srv.accept_pause_until = now + ACCEPT_PAUSE_MS;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                errmsg("accept: %s", strerror(errno));
            }
            return;
        }
        counts_opened();
        logmsg("%s connection accepted (%u open)", family_tag(l), srv.counts.open);
        bool keep = l->mode.kind != MODE_ACCEPT && conn_add(fd, idx) == 0;
        counts_publish();
        if (!keep) {
            close(fd);
            srv.counts.open--;
        }
    }
}

/* Binds every listener to its address; with --dual and port 0, retries until
 * the port the kernel picked for 127.0.0.1 is free on ::1 too. Returns 0, or
 * -1 after reporting the error. */
static int listeners_bind_all(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int i;
        for (i = 0; i < srv.nlis; i++) {
            if (i > 0)
                addr_set_port(&srv.lis[i].addr, addr_port(&srv.lis[0].addr));
            if (listener_bind(&srv.lis[i]) != 0)
                break;
        }
        if (i == srv.nlis)
            return 0;
        int e = errno;
        for (int j = 0; j < i; j++)
            listener_close(&srv.lis[j]);
        if (e != EADDRINUSE || srv.opt.port != 0 || i == 0) {
            errmsg("cannot bind port %u: %s", srv.opt.port, strerror(e));
            return -1;
        }
        addr_set_port(&srv.lis[0].addr, 0);
    }
    errmsg("found no port free on both 127.0.0.1 and ::1");
    return -1;
}

/* ---- mode switching --------------------------------------------------- */

/* Rewrites --mode-ack with the listeners' modes: one line "MODE [STATUS]"
 * when all agree, else one line "v4 MODE [STATUS]" / "v6 ..." each; or with
 * "error: MSG" when msg is not NULL. */
static void mode_ack(const char *msg)
{
    if (srv.opt.mode_ack == NULL)
        return;
    char buf[320], one[32];
    if (msg != NULL) {
        snprintf(buf, sizeof buf, "error: %s\n", msg);
        publish(srv.opt.mode_ack, buf);
        return;
    }
    bool same = srv.nlis == 1 || (srv.lis[0].mode.kind == srv.lis[1].mode.kind &&
                                  srv.lis[0].mode.status == srv.lis[1].mode.status);
    buf[0] = '\0';
    for (int i = 0; i < (same ? 1 : srv.nlis); i++) {
        format_mode(srv.lis[i].mode, one, sizeof one);
        size_t used = strlen(buf);
        snprintf(buf + used, sizeof buf - used, "%s%s%s\n", same ? "" : family_tag(&srv.lis[i]),
                 same ? "" : " ", one);
    }
    publish(srv.opt.mode_ack, buf);
}

/* Reads --mode-file into new modes for the listeners (lines without a v4/v6
 * prefix apply to all). Returns 0, or -1 with a message in err. */
static int mode_file_read(struct mode *modes, char *err, size_t errlen)
{
    char buf[MODE_FILE_MAX];
    FILE *f = fopen(srv.opt.mode_file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", srv.opt.mode_file, strerror(errno));
        return -1;
    }
    int seen = 0, rc = 0;
    while (rc == 0 && fgets(buf, sizeof buf, f) != NULL) {
        struct mode m;
        int family, matched = 0, r = parse_mode_line(buf, &m, &family, err, errlen);
        if (r < 0)
            rc = -1;
        for (int i = 0; r > 0 && i < srv.nlis; i++) {
            if (family == AF_UNSPEC || family == srv.lis[i].addr.ss_family) {
                modes[i] = m;
                matched++;
            }
        }
        seen += matched;
        if (r > 0 && matched == 0) {
            snprintf(err, errlen, "no %s socket to switch", family == AF_INET ? "v4" : "v6");
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0 && seen == 0) {
        snprintf(err, errlen, "%s holds no mode", srv.opt.mode_file);
        rc = -1;
    }
    return rc;
}

/* SIGUSR1: re-reads --mode-file (if given), applies it, and acknowledges.
 * A bad file is reported and ignored; a socket failure is fatal. Returns 0,
 * or -1 when the server must exit. */
static int mode_reload(void)
{
    struct mode modes[MAX_LISTENERS];
    char err[256];
    for (int i = 0; i < srv.nlis; i++)
        modes[i] = srv.lis[i].mode;
    if (srv.opt.mode_file != NULL && mode_file_read(modes, err, sizeof err) != 0) {
        errmsg("mode switch ignored: %s", err);
        mode_ack(err);
        return 0;
    }
    for (int i = 0; i < srv.nlis; i++) {
        if (listener_set_mode(i, modes[i], err, sizeof err) != 0) {
            errmsg("%s: %s", family_tag(&srv.lis[i]), err);
            mode_ack(err);
            return -1;
        }
        char one[32];
        format_mode(modes[i], one, sizeof one);
        logmsg("%s switched to %s", family_tag(&srv.lis[i]), one);
    }
    mode_ack(NULL);
    return 0;
}

/* ---- main loop -------------------------------------------------------- */

/* Milliseconds ppoll may sleep: until the next held answer or the deadline. */
static int64_t loop_timeout(int64_t now)
{
    int64_t until = srv.deadline_ms;
    for (size_t i = 0; i < srv.nconns; i++)
        if (srv.conns[i]->state == CONN_HOLD && srv.conns[i]->hold_until < until)
            until = srv.conns[i]->hold_until;
    if (srv.accept_pause_until > now && srv.accept_pause_until < until)
        until = srv.accept_pause_until;
    return until > now ? until - now : 0;
}

/* Fills pfds (room for srv.nlis + srv.nconns entries): listeners first (fd
 * -1 when they are not to be accepted from), then connections. */
static void loop_fill(struct pollfd *pfds, int64_t now)
{
    for (int i = 0; i < srv.nlis; i++) {
        const struct listener *l = &srv.lis[i];
        bool on = l->listening && mode_accepts(l->mode.kind) && srv.accept_pause_until <= now;
        pfds[i] = (struct pollfd){.fd = on ? l->fd : -1, .events = POLLIN};
    }
    for (size_t i = 0; i < srv.nconns; i++)
        pfds[srv.nlis + (int)i] =
            (struct pollfd){.fd = srv.conns[i]->fd, .events = conn_events(srv.conns[i])};
}

/* Handles one ppoll result: connections first (walking backwards, since
 * closing moves the last one), then listeners, whose accepts append. */
static void loop_dispatch(const struct pollfd *pfds, int64_t now)
{
    for (size_t i = 0; i < srv.nconns; i++)
        srv.conns[i]->revents = pfds[srv.nlis + (int)i].revents;
    for (size_t i = srv.nconns; i-- > 0;) {
        struct conn *c = srv.conns[i];
        if ((c->revents != 0 || c->state == CONN_HOLD) && !conn_step(c, now))
            conn_close(i);
    }
    for (int i = 0; i < srv.nlis; i++)
        if (pfds[i].revents & POLLIN)
            listener_accept(i, now);
}

/* Serves until SIGTERM/SIGINT/SIGHUP (exit 0), --max-seconds (exit 0), or a
 * fatal error (exit 1). waitmask is the signal mask to sleep with. */
static int loop_run(const sigset_t *waitmask)
{
    struct pollfd *pfds = NULL;
    size_t cap = 0;
    for (;;) {
        if (got_stop) {
            logmsg("signal %d: exiting", (int)got_stop);
            break;
        }
        if (got_usr1) {
            got_usr1 = 0;
            if (mode_reload() != 0) {
                free(pfds);
                return EXIT_FAIL;
            }
        }
        int64_t now = now_ms();
        if (now >= srv.deadline_ms) {
            logmsg("--max-seconds reached: exiting");
            break;
        }
        size_t need = (size_t)srv.nlis + srv.nconns;
        if (need > cap) {
            struct pollfd *n = realloc(pfds, need * 2 * sizeof *n);
            if (n == NULL) {
                errmsg("out of memory");
                free(pfds);
                return EXIT_FAIL;
            }
            pfds = n;
            cap = need * 2;
        }
        loop_fill(pfds, now);
        int64_t wait = loop_timeout(now);
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
        if (ppoll(pfds, need, &ts, waitmask) < 0) {
            if (errno == EINTR)
                continue;
            errmsg("ppoll: %s", strerror(errno));
            free(pfds);
            return EXIT_FAIL;
        }
        loop_dispatch(pfds, now_ms());
    }
    free(pfds);
    return EXIT_OK;
}

/* ---- start-up --------------------------------------------------------- */

/* Records a stop or mode-switch request for the loop. */
static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        got_usr1 = 1;
    else
        got_stop = sig;
}

/* Installs handlers for SIGTERM, SIGINT, SIGHUP and SIGUSR1 and blocks them,
 * so they are only delivered while the loop sleeps in ppoll with *waitmask;
 * ignores SIGPIPE. */
static void signals_setup(sigset_t *waitmask)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    sigset_t block;
    sigemptyset(&block);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&block, sigs[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &block, waitmask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigdelset(waitmask, sigs[i]);
}

static void usage(FILE *f)
{
    fputs(
        "usage: testserver [OPTIONS] MODE [STATUS]\n"
        "\n"
        "A loopback test server for fusebox. MODE is one of:\n"
        "  http [STATUS]  HTTP/1.1 server answering every request with STATUS (default 200),\n"
        "                 Content-Length, Content-Type: text/plain and a short body;\n"
        "                 keep-alive, pipelining, Content-Length and chunked bodies,\n"
        "                 Expect: 100-continue and HEAD are handled\n"
        "  refuse         bind the port without listening: connects get RST (ECONNREFUSED);\n"
        "                 SO_REUSEADDR is off so nothing else can bind the port meanwhile\n"
        "  stall          accept connections and never answer (read and drop input)\n"
        "  blackhole      listen(fd, 0), never accept, fill the queue with self-connects so\n"
        "                 further SYNs are dropped and connects time out (checked at start:\n"
        "                 exit 1 if a connect still completes within 200 ms)\n"
        "  accept         accept each connection and close it at once\n"
        "  listen         listen and never accept: connects complete (the kernel's backlog),\n"
        "                 requests are never read\n"
        "  reset          read each request and reset the connection without an answer\n"
        "  resethead      read each request, send part of a response head, then reset\n"
        "  drop           read the first bytes of each connection, then close it (a TLS\n"
        "                 server that ends the handshake at the ClientHello)\n"
        "\n"
        "Options:\n"
        "  --port N          port to bind (default 0: the kernel picks a free one)\n"
        "  --bind ADDR       loopback address to bind (default 127.0.0.1; ::1 works)\n"
        "  --dual            bind 127.0.0.1 and ::1 on the same port (not with --bind)\n"
        "  --v6-mode 'MODE [STATUS]'  with --dual: mode of the ::1 socket (default: MODE)\n"
        "  --port-file PATH  write 'PORT\\n' (atomically) once everything is ready\n"
        "  --count-file PATH write 'connections N\\nrequests N\\nmax_concurrent N\\n' at start,\n"
        "                    after each accept and before each HTTP answer is sent\n"
        "  --pid-file PATH   write the process id\n"
        "  --hold-ms N       http: wait N ms before answering each request\n"
        "  --body TEXT       http: response body (default 'status STATUS from testserver\\n')\n"
        "  --header 'Name: value'  http: add a response header (repeatable, at most 16)\n"
        "  --after N:STATUS  http: answer STATUS instead from the (N+1)-th request on\n"
        "  --mode-file PATH  on SIGUSR1 read the new mode from PATH: lines 'MODE [STATUS]'\n"
        "                    (all sockets) or 'v4 MODE [STATUS]' / 'v6 MODE [STATUS]'\n"
        "  --mode-ack PATH   after each SIGUSR1 write the modes now in force: 'MODE [STATUS]\\n',\n"
        "                    or 'v4 ...\\nv6 ...\\n' when they differ, or 'error: MSG\\n'\n"
        "  --max-seconds N   exit by itself after N seconds (default 120)\n"
        "  -v, --verbose     log events to stderr\n"
        "  -h, --help        show this help\n"
        "\n"
        "Exits 0 on SIGTERM, SIGINT, SIGHUP or --max-seconds; 1 on errors; 2 on usage errors.\n"
        "Switching kind (e.g. http -> refuse) closes the old mode's connections; a status-only\n"
        "change (http 200 -> http 503) keeps them and applies to their next answer.\n",
        f);
}

enum long_only {
    OPT_PORT = 256,
    OPT_BIND,
    OPT_DUAL,
    OPT_V6_MODE,
    OPT_PORT_FILE,
    OPT_COUNT_FILE,
    OPT_PID_FILE,
    OPT_MODE_FILE,
    OPT_MODE_ACK,
    OPT_HOLD_MS,
    OPT_BODY,
    OPT_HEADER,
    OPT_MAX_SECONDS,
    OPT_AFTER,
};

/* Applies one option to *o. Returns 0, or -1 after printing why. */
static int apply_option(struct options *o, int opt, const char *arg)
{
    unsigned long v;
    char err[160], copy[64];
    int family;
    switch (opt) {
    case OPT_PORT:
        if (parse_uint(arg, 65535, &v) != 0)
            return errmsg("bad --port '%s'", arg), -1;
        o->port = (unsigned)v;
        return 0;
    case OPT_HOLD_MS:
        if (parse_uint(arg, 3600000, &v) != 0)
            return errmsg("bad --hold-ms '%s'", arg), -1;
        o->hold_ms = (unsigned)v;
        return 0;
    case OPT_MAX_SECONDS:
        if (parse_uint(arg, 86400, &v) != 0 || v == 0)
            return errmsg("bad --max-seconds '%s' (1..86400)", arg), -1;
        o->max_seconds = (unsigned)v;
        return 0;
    case OPT_V6_MODE:
        snprintf(copy, sizeof copy, "%s", arg);
        if (parse_mode_line(copy, &o->v6_mode, &family, err, sizeof err) != 1 ||
            family != AF_UNSPEC)
            return errmsg("bad --v6-mode '%s'", arg), -1;
        return 0;
    case OPT_AFTER: {
        char *colon = strchr(arg, ':');
        unsigned long status;
        snprintf(copy, sizeof copy, "%s", arg);
        if (!colon || colon - arg >= (long)sizeof copy)
            return errmsg("bad --after '%s' (N:STATUS)", arg), -1;
        copy[colon - arg] = '\0';
        if (parse_uint(copy, 1000000, &v) != 0 || parse_uint(colon + 1, 599, &status) != 0 ||
            status < 200)
            return errmsg("bad --after '%s' (N:STATUS)", arg), -1;
        o->after_requests = v;
        o->after_status = (int)status;
        return 0;
    }
    case OPT_HEADER:
        if (o->nheaders == MAX_EXTRA_HEADERS || strchr(arg, ':') == NULL || arg[0] == ':' ||
            strpbrk(arg, "\r\n") != NULL)
            return errmsg("bad or too many --header '%s'", arg), -1;
        o->headers[o->nheaders++] = arg;
        return 0;
    }
    const char **slot = opt == OPT_BIND         ? &o->bind_addr
                        : opt == OPT_PORT_FILE  ? &o->port_file
                        : opt == OPT_COUNT_FILE ? &o->count_file
                        : opt == OPT_PID_FILE   ? &o->pid_file
                        : opt == OPT_MODE_FILE  ? &o->mode_file
                        : opt == OPT_MODE_ACK   ? &o->mode_ack
                                                : &o->body;
    *slot = arg;
    return 0;
}

/* Parses argv into *o. Returns 0, 1 after --help, or -1 on a usage error
 * (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"dual", no_argument, NULL, OPT_DUAL},
        {"v6-mode", required_argument, NULL, OPT_V6_MODE},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"count-file", required_argument, NULL, OPT_COUNT_FILE},
        {"pid-file", required_argument, NULL, OPT_PID_FILE},
        {"mode-file", required_argument, NULL, OPT_MODE_FILE},
        {"mode-ack", required_argument, NULL, OPT_MODE_ACK},
        {"hold-ms", required_argument, NULL, OPT_HOLD_MS},
        {"body", required_argument, NULL, OPT_BODY},
        {"header", required_argument, NULL, OPT_HEADER},
        {"max-seconds", required_argument, NULL, OPT_MAX_SECONDS},
        {"after", required_argument, NULL, OPT_AFTER},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){.max_seconds = 120};
    int opt;
    while ((opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        if (opt == 'h')
            return usage(stdout), 1;
        if (opt == 'v')
            o->verbose = true;
        else if (opt == OPT_DUAL)
            o->dual = true;
        else if (opt == '?' || apply_option(o, opt, optarg) != 0)
            return -1;
    }
    char err[160];
    int left = argc - optind;
    if (left < 1 || left > 2)
        return errmsg("expected MODE [STATUS] (see --help)"), -1;
    if (parse_mode(argv[optind], left == 2 ? argv[optind + 1] : NULL, &o->mode, err, sizeof err))
        return errmsg("%s", err), -1;
    struct sockaddr_storage ss;
    if (o->bind_addr != NULL && loopback_addr(o->bind_addr, 0, &ss) == 0)
        return errmsg("--bind '%s' is not a loopback address literal", o->bind_addr), -1;
    if (o->dual && o->bind_addr != NULL)
        return errmsg("--dual binds 127.0.0.1 and ::1; do not combine it with --bind"), -1;
    if (!o->dual && o->v6_mode.kind != MODE_NONE)
        return errmsg("--v6-mode needs --dual"), -1;
    return 0;
}

/* Sets up the listeners' addresses from the options (parse_args has checked
 * that --bind is a loopback literal). Returns 0, or -1 after reporting. */
static int listeners_init(void)
{
    const struct options *o = &srv.opt;
    const char *addrs[MAX_LISTENERS] = {o->dual ? "127.0.0.1" : o->bind_addr, "::1"};
    if (addrs[0] == NULL)
        addrs[0] = "127.0.0.1";
    srv.nlis = o->dual ? 2 : 1;
    for (int i = 0; i < srv.nlis; i++) {
        struct listener *l = &srv.lis[i];
        *l = (struct listener){.fd = -1};
        l->addrlen = loopback_addr(addrs[i], o->port, &l->addr);
        if (l->addrlen == 0)
            return errmsg("--bind '%s' is not a loopback address literal", addrs[i]), -1;
    }
    return 0;
}

/* Binds, brings every listener into its start mode, and writes the pid,
 * count and port files (the port file last: it means "ready"). Returns 0, or
 * -1 after reporting the error. */
static int server_start(void)
{
    if (listeners_init() != 0 || listeners_bind_all() != 0)
        return -1;
    for (int i = 0; i < srv.nlis; i++) {
        char err[256];
        struct mode m =
            i == 1 && srv.opt.v6_mode.kind != MODE_NONE ? srv.opt.v6_mode : srv.opt.mode;
        if (listener_set_mode(i, m, err, sizeof err) != 0)
            return errmsg("%s: %s", family_tag(&srv.lis[i]), err), -1;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (srv.opt.pid_file != NULL && publish(srv.opt.pid_file, buf) != 0)
        return -1;
    counts_publish();
    snprintf(buf, sizeof buf, "%u\n", addr_port(&srv.lis[0].addr));
    if (srv.opt.port_file != NULL && publish(srv.opt.port_file, buf) != 0)
        return -1;
    logmsg("ready on port %u", addr_port(&srv.lis[0].addr));
    return 0;
}

int main(int argc, char **argv)
{
    int r = parse_args(argc, argv, &srv.opt);
    if (r != 0)
        return r > 0 ? EXIT_OK : EXIT_USAGE;
    sigset_t waitmask;
    signals_setup(&waitmask);
    srv.deadline_ms = now_ms() + (int64_t)srv.opt.max_seconds * 1000;
    if (server_start() != 0)
        return EXIT_FAIL;
    int rc = loop_run(&waitmask);
    while (srv.nconns > 0)
        conn_close(srv.nconns - 1);
    for (int i = 0; i < srv.nlis; i++)
        listener_close(&srv.lis[i]);
    free(srv.conns);
    return rc;
}
