#include "sigbus.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

/* A guarded range: claimed through used, published by a non-zero base. */
struct guard {
    _Atomic int used;
    _Atomic uintptr_t base;
    _Atomic size_t len;
    _Atomic(_Atomic bool *) lost;
};

static struct guard guards[SIGBUS_GUARDS];
static struct sigaction previous; /* written once, before the handler is installed */
enum { HANDLER_NONE, HANDLER_INSTALLING, HANDLER_INSTALLED };
static _Atomic int handler_state = HANDLER_NONE;

/* True for a fault of the instruction that runs again when the handler
 * returns (si_addr is then the address it touched). */
static bool is_fault(const siginfo_t *si)
{
    return si->si_code == BUS_ADRALN || si->si_code == BUS_ADRERR || si->si_code == BUS_OBJERR ||
           si->si_code == BUS_MCEERR_AR;
}

/* Replaces the guarded range holding addr by zero pages; false when addr
 * is in none (or the replacement failed). */
static bool detach_range_of(uintptr_t addr)
{
    for (int i = 0; i < SIGBUS_GUARDS; i++) {
        uintptr_t base = atomic_load_explicit(&guards[i].base, memory_order_acquire);
        size_t len = atomic_load_explicit(&guards[i].len, memory_order_relaxed);
        if (base == 0 || addr - base >= len)
            continue;
        if (mmap((void *)base, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                 -1, 0) == MAP_FAILED)
            return false;
        _Atomic bool *lost = atomic_load_explicit(&guards[i].lost, memory_order_relaxed);
        atomic_store_explicit(lost, true, memory_order_release);
        return true;
    }
    return false;
}

static void reset_to_default(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(sig, &dfl, NULL);
}

/* Delivers sig the way the disposition before ours would have taken it. */
static void chain(int sig, siginfo_t *si, void *context)
{
    void (*handler)(int) = previous.sa_handler;
    if (handler == SIG_IGN && !is_fault(si))
        return;
    if (handler == SIG_DFL || handler == SIG_IGN) { /* a fault cannot be ignored */
        reset_to_default(sig);
        if (!is_fault(si))
            raise(sig); /* pending until this handler returns */
        return;
    }
    if (previous.sa_flags & SA_RESETHAND)
        reset_to_default(sig);
    if (previous.sa_flags & SA_SIGINFO)
        previous.sa_sigaction(sig, si, context);
    else
        handler(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *context)
{
    int saved = errno;
    if (!is_fault(si) || !detach_range_of((uintptr_t)si->si_addr))
        chain(sig, si, context);
    errno = saved;
}

/* Installs on_sigbus once; returns whether it is (or is being) installed. */
static bool install_handler(void)
{
    int state = HANDLER_NONE;
    if (!atomic_compare_exchange_strong(&handler_state, &state, HANDLER_INSTALLING))
        return true;
    struct sigaction ours = {.sa_sigaction = on_sigbus};
    if (sigaction(SIGBUS, NULL, &previous) != 0) {
        atomic_store(&handler_state, HANDLER_NONE);
        return false;
    }
    bool has_handler = previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN;
    ours.sa_mask = previous.sa_mask;
    ours.sa_flags =
        SA_SIGINFO | (has_handler ? previous.sa_flags & (SA_ONSTACK | SA_NODEFER) : SA_ONSTACK);
    if (sigaction(SIGBUS, &ours, NULL) != 0) {
        atomic_store(&handler_state, HANDLER_NONE);
        return false;
    }
    atomic_store(&handler_state, HANDLER_INSTALLED);
    return true;
}

bool sigbus_guard(void *base, size_t len, _Atomic bool *lost)
{
    if (!install_handler())
        return false;
    for (int i = 0; i < SIGBUS_GUARDS; i++) {
        int unused = 0;
        if (!atomic_compare_exchange_strong(&guards[i].used, &unused, 1))
            continue;
        atomic_store_explicit(&guards[i].len, len, memory_order_relaxed);
        atomic_store_explicit(&guards[i].lost, lost, memory_order_relaxed);
        atomic_store_explicit(&guards[i].base, (uintptr_t)base, memory_order_release);
        return true;
    }
    errno = EBUSY;
    return false;
}

void sigbus_unguard(const void *base)
{
    for (int i = 0; i < SIGBUS_GUARDS; i++) {
        if (atomic_load_explicit(&guards[i].base, memory_order_acquire) == (uintptr_t)base) {
            atomic_store_explicit(&guards[i].base, 0, memory_order_release);
            atomic_store(&guards[i].used, 0);
            return;
        }
    }
}
