#include "progname.h"

#include <dlfcn.h>
#include <stddef.h>

#include "keep_errno.h"

void *libc_data(_Atomic(void *) *cache, const char *name)
{
    static char none; /* what *cache holds for a name that is not there */
    void *at = atomic_load_explicit(cache, memory_order_acquire);
    if (!at) {
        KEEP_ERRNO();
        at = dlsym(RTLD_DEFAULT, name);
        atomic_store_explicit(cache, at ? at : &none, memory_order_release);
    }
    return at == &none ? NULL : at;
}

const char *program_name(void)
{
    static _Atomic(void *) cache;
    char **name = libc_data(&cache, "program_invocation_short_name");
    return name && *name ? *name : "?";
}
