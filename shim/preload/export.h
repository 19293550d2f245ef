/* export.h — the mark of a function libfusebox.so interposes. Everything
 * else is hidden (-fvisibility=hidden), and libfusebox.map lists exactly
 * these names. */
#ifndef FUSEBOX_EXPORT_H
#define FUSEBOX_EXPORT_H

#define EXPORT __attribute__((visibility("default")))

#endif
