#include "libc.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct libc_symbols libc_symbols;

static void refuse_to_recurse(const char *name)
{
    static const char head[] = "fusebox: dlsym(RTLD_NEXT) returned fusebox's own ";
    ssize_t unused = write(STDERR_FILENO, head, sizeof head - 1);
    unused = write(STDERR_FILENO, name, strlen(name));
    unused = write(STDERR_FILENO, "\n", 1);
    (void)unused;
    abort();
}

/* Our own definitions of the hooked names, to recognise them. */
#define LIBC_OWN(ret, name, params, args) extern ret name params;
LIBC_SYMBOLS(LIBC_OWN)
#undef LIBC_OWN

void libc_bind(void)
{
#define LIBC_LOOKUP(ret, fname, params, args)                                                      \
    {                                                                                              \
        void *sym = dlsym(RTLD_NEXT, #fname);                                                      \
        if (sym == (void *)&fname)                                                                 \
            refuse_to_recurse(#fname);                                                             \
        atomic_store_explicit(&libc_symbols.fname, (libc_##fname##_fn)sym, memory_order_relaxed);  \
    }
    LIBC_SYMBOLS(LIBC_LOOKUP)
#undef LIBC_LOOKUP
}
