#include "refusal.h"

#include <stdio.h>

void refusal_quote(char *out, size_t size, const char *s)
{
    size_t n = 0;
    out[n++] = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (n + sizeof "\\xHH...\"" > size) {
            n += (size_t)snprintf(out + n, size - n, "...");
            break;
        }
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(out + n, size - n, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n++] = '"';
    out[n] = '\0';
}
