#include "progname.h"

#include <dlfcn.h>
#include <stdatomic.h>

#include "keep_errno.h"

const char *program_name(void)
{
    static char *unknown = "?";
    static _Atomic(char **) found;
    char **name = atomic_load_explicit(&found, memory_order_acquire);
    if (!name) {
        KEEP_ERRNO();
        name = dlsym(RTLD_DEFAULT, "program_invocation_short_name");
        if (!name)
            name = &unknown; /* looked for once */
        atomic_store_explicit(&found, name, memory_order_release);
    }
    return *name ? *name : "?";
}
