/* tls_recognise.h — recognising TLS in the bytes a program writes: the
 * record that opens a ClientHello, and, later, the records of one write that
 * say the client finished its handshake (application data) or gave up on it
 * (an alert).
 *
 * Pure: no allocation, no I/O. The ClientHello recogniser keeps what it
 * knows in one integer the caller stores, so a record header split over any
 * number of writes gives the same verdict; nothing of the data is kept. */
#ifndef FUSEBOX_TLS_RECOGNISE_H
#define FUSEBOX_TLS_RECOGNISE_H

#include <stddef.h>
#include <stdint.h>

#include "http_recognise.h"

/* The state of a ClientHello not yet seen: 0. */
#define TLS_HELLO_START 0u

/* Feeds n bytes the program writes after those already fed. Returns
 * HTTP_YES once they begin a handshake record (22, version 3.0-3.4, a length
 * of 4 to 18432) whose first message is a ClientHello (1), HTTP_NO at the
 * first byte that cannot begin one, else HTTP_MORE. */
enum http_verdict tls_hello_feed(uint32_t *state, const void *bytes, size_t n);

enum tls_client_event {
    TLS_CLIENT_NOTHING,  /* handshake records, or nothing readable */
    TLS_CLIENT_APP_DATA, /* an application-data record: the client is past its handshake */
    TLS_CLIENT_ALERT,    /* an alert: the client is ending the connection */
};

/* Walks the TLS records of one write of n bytes (taken to start a record),
 * as far as their headers lie within it; returns what the first telling one
 * says. */
enum tls_client_event tls_client_records(const void *bytes, size_t n);

#endif
