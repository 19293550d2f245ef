/* The real libcurl functions, found on first use. The shim never links
 * libcurl: a process that does not use it never gets here. */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

#include "curl_internal.h"
#include "keep_errno.h"
#include "log.h"

struct curl_reals curl_reals;

/* The libcurl flavours Debian ships, for a library loaded with RTLD_LOCAL
 * (by an interpreter's extension module), which RTLD_NEXT does not see.
 * Names in place, not pointers: no relocation at start. */
static const char libcurl_names[][sizeof "libcurl-gnutls.so.4"] = {
    "libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4"};

/* Returns name from a libcurl that is already loaded, or NULL. */
static void *from_loaded_libcurl(const char *name)
{
    for (size_t i = 0; i < sizeof libcurl_names / sizeof *libcurl_names; i++) {
        void *lib = dlopen(libcurl_names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!lib)
            continue;
        void *sym = dlsym(lib, name);
        dlclose(lib);
        if (sym)
            return sym;
    }
    return NULL;
}

void *curl_bind(const char *name, _Atomic(void *) *slot)
{
    KEEP_ERRNO();
    void *sym = dlsym(RTLD_NEXT, name);
    if (!sym)
        sym = from_loaded_libcurl(name);
    if (sym)
        atomic_store_explicit(slot, sym, memory_order_relaxed);
    else
        log_once(LOG_WARN, "cannot find libcurl's %s; libcurl calls fail", name);
    return sym;
}
