/* The real TLS-library functions, found on first use. The shim never links
 * OpenSSL or GnuTLS: a process that does not use them never gets here. */
#include <dlfcn.h>

#include "keep_errno.h"
#include "log.h"
#include "tls_internal.h"

/* The libraries Debian ships, for one loaded with RTLD_LOCAL (by an
 * interpreter's extension module), which RTLD_NEXT does not see. */
/* Names in place, not pointers: no relocation at start. */
static const char tls_libraries[][sizeof "libgnutls.so.30"] = {"libssl.so.3", "libssl.so.1.1",
                                                               "libgnutls.so.30"};

/* Returns name from the loaded library called file (NULL: none), or NULL. */
static void *from_loaded(const char *file, const char *name)
{
    void *lib = file ? dlopen(file, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    void *sym = lib ? dlsym(lib, name) : NULL;
    if (lib)
        dlclose(lib);
    return sym;
}

void *tls_bind(const char *name, const void *caller, _Atomic(void *) *slot)
{
    KEEP_ERRNO();
    void *sym = dlsym(RTLD_NEXT, name);
    for (size_t i = 0; !sym && i < sizeof tls_libraries / sizeof *tls_libraries; i++)
        sym = from_loaded(tls_libraries[i], name);
    Dl_info info;
    if (!sym && caller && dladdr(caller, &info))
        sym = from_loaded(info.dli_fname, name);
    Dl_info own;
    if (sym && dladdr(sym, &info) && dladdr((void *)tls_bind, &own) &&
        info.dli_fbase == own.dli_fbase)
        sym = NULL; /* found the hook itself: calling it would never end */
    if (sym)
        atomic_store_explicit(slot, sym, memory_order_relaxed);
    else
        log_once(LOG_WARN, "cannot find the TLS library's %s; its calls fail", name);
    return sym;
}
