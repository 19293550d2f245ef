/* temp_file.h — a new file under a unique temporary name, for files that
 * are made whole and then renamed or linked into place (the state file, the
 * compiled rules image).
 *
 * As mkostemp(template, O_CLOEXEC), which the shim does not call: its
 * version (GLIBC_2.7) would be one more that every process loading the shim
 * checks at start. */
#ifndef FUSEBOX_TEMP_FILE_H
#define FUSEBOX_TEMP_FILE_H

/* Replaces the six X that end path with characters that make a name no
 * file has, and creates that file (mode 0600, close-on-exec, never through
 * a symbolic link). Returns its fd, or -1 with errno (EINVAL: path does not
 * end in XXXXXX; EEXIST: 100 names tried were all taken). */
int temp_file_create(char *path);

#endif
