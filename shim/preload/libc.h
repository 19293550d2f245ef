/* libc.h — the real functions behind every hook, as libc_NAME(...).
 *
 * Each is looked up with dlsym(RTLD_NEXT) the first time it is called, not at
 * load time: the shim is loaded into every process, and a process pays only
 * for the functions it uses. Binding takes no lock (racing binders store the
 * same value), so it is safe in any thread, before constructors have run and
 * inside signal handlers that interrupt a binding. */
#ifndef FUSEBOX_LIBC_H
#define FUSEBOX_LIBC_H

#include <fcntl.h>
#include <netdb.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* X(return type, name, parameters, arguments) */
#define LIBC_SYMBOLS(X)                                                                            \
    X(int, connect, (int fd, const struct sockaddr *addr, socklen_t len), (fd, addr, len))         \
    X(int, socket, (int domain, int type, int protocol), (domain, type, protocol))                 \
    X(int, close, (int fd), (fd))                                                                  \
    X(int, dup, (int fd), (fd))                                                                    \
    X(int, dup2, (int oldfd, int newfd), (oldfd, newfd))                                           \
    X(int, dup3, (int oldfd, int newfd, int flags), (oldfd, newfd, flags))                         \
    X(int, close_range, (unsigned first, unsigned last, int flags), (first, last, flags))          \
    X(int, shutdown, (int fd, int how), (fd, how))                                                 \
    X(ssize_t, write, (int fd, const void *buf, size_t len), (fd, buf, len))                       \
    X(ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))                     \
    X(ssize_t, send, (int fd, const void *buf, size_t len, int flags), (fd, buf, len, flags))      \
    X(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags))           \
    X(ssize_t, read, (int fd, void *buf, size_t len), (fd, buf, len))                              \
    X(ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n))                      \
    X(ssize_t, recv, (int fd, void *buf, size_t len, int flags), (fd, buf, len, flags))            \
    X(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags))                 \
    X(int, getsockopt, (int fd, int level, int name, void *val, socklen_t *len),                   \
      (fd, level, name, val, len))                                                                 \
    X(int, getaddrinfo,                                                                            \
      (const char *node, const char *service, const struct addrinfo *hints,                        \
       struct addrinfo **res),                                                                     \
      (node, service, hints, res))                                                                 \
    X(struct hostent *, gethostbyname, (const char *name), (name))                                 \
    X(struct hostent *, gethostbyname2, (const char *name, int af), (name, af))                    \
    X(int, gethostbyname_r,                                                                        \
      (const char *name, struct hostent *ret, char *buf, size_t len, struct hostent **result,      \
       int *h_errnop),                                                                             \
      (name, ret, buf, len, result, h_errnop))                                                     \
    X(int, gethostbyname2_r,                                                                       \
      (const char *name, int af, struct hostent *ret, char *buf, size_t len,                       \
       struct hostent **result, int *h_errnop),                                                    \
      (name, af, ret, buf, len, result, h_errnop))

#define LIBC_TYPEDEF(ret, name, params, args) typedef ret(*libc_##name##_fn) params;
LIBC_SYMBOLS(LIBC_TYPEDEF)
#undef LIBC_TYPEDEF

/* The variadic ones, whose hooks pass on their one optional argument:
 * X(name, type of the second parameter). */
#define LIBC_VARIADIC(X) X(fcntl, int) X(fcntl64, int) X(ioctl, unsigned long)

struct libc_symbols {
#define LIBC_FIELD(ret, name, params, args) _Atomic(void *) name;
    LIBC_SYMBOLS(LIBC_FIELD)
#undef LIBC_FIELD
#define LIBC_VARIADIC_FIELD(name, second) _Atomic(void *) name;
    LIBC_VARIADIC(LIBC_VARIADIC_FIELD)
#undef LIBC_VARIADIC_FIELD
};

extern struct libc_symbols libc_symbols;

#define LIBC_OWN(ret, name, params, args) extern ret name params;
LIBC_SYMBOLS(LIBC_OWN)
#undef LIBC_OWN

/* Looks up the real function name (whose hook in fusebox is own), stores it
 * in *slot and returns it. Aborts the process (with a message) when the
 * lookup finds fusebox's own hook or nothing, either of which would leave the
 * call with nowhere to go. */
void *libc_bind(const char *name, const void *own, _Atomic(void *) *slot);

/* The first call binds, out of line: the arguments then go straight from
 * the caller's registers to one call or the other, and need not be kept in
 * the hook's frame across the binding. */
#define LIBC_CALLER(ret, name, params, args)                                                       \
    static __attribute__((noinline, cold, unused)) ret libc_first_##name params                    \
    {                                                                                              \
        void *f = libc_bind(#name, (const void *)&name, &libc_symbols.name);                       \
        return ((libc_##name##_fn)f)args;                                                          \
    }                                                                                              \
    static inline ret libc_##name params                                                           \
    {                                                                                              \
        void *f = atomic_load_explicit(&libc_symbols.name, memory_order_relaxed);                  \
        if (__builtin_expect(f == 0, 0))                                                           \
            return libc_first_##name args;                                                         \
        return ((libc_##name##_fn)f)args;                                                          \
    }
LIBC_SYMBOLS(LIBC_CALLER)
#undef LIBC_CALLER

#define LIBC_VARIADIC_CALLER(name, second)                                                         \
    static __attribute__((noinline, cold, unused)) int libc_first_##name(int fd, second what,      \
                                                                         void *arg)                \
    {                                                                                              \
        void *f = libc_bind(#name, (const void *)&name, &libc_symbols.name);                       \
        return ((int (*)(int, second, ...))f)(fd, what, arg);                                      \
    }                                                                                              \
    static inline int libc_##name(int fd, second what, void *arg)                                  \
    {                                                                                              \
        void *f = atomic_load_explicit(&libc_symbols.name, memory_order_relaxed);                  \
        if (__builtin_expect(f == 0, 0))                                                           \
            return libc_first_##name(fd, what, arg);                                               \
        return ((int (*)(int, second, ...))f)(fd, what, arg);                                      \
    }
LIBC_VARIADIC(LIBC_VARIADIC_CALLER)
#undef LIBC_VARIADIC_CALLER

#endif
