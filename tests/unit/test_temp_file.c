/* Unit tests of temp_file.c: a new file under a unique name, private,
 * close-on-exec, never through a symbolic link, and what it refuses. Also
 * progname.c and raw_fstat.h, the other parts of loading cheaply. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progname.h"
#include "raw_fstat.h"
#include "temp_file.h"
#include "unit.h"

static char dir[] = "/tmp/fusebox-test-temp-XXXXXX";

static void template_in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s.XXXXXX", dir, name);
}

static void makes_a_private_close_on_exec_file(void)
{
    char path[256];
    template_in_dir(path, sizeof path, "one");
    mode_t old = umask(0);
    int fd = temp_file_create(path);
    umask(old);
    CHECK(fd >= 0);
    CHECK(strstr(path, ".XXXXXX") == NULL);
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK(S_ISREG(sb.st_mode));
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    unlink(path);
}

/* Each name removed before the next is made: a name that came back would
 * be taken again at once, not skipped by O_EXCL. */
static void names_differ_call_to_call(void)
{
    char paths[50][256];
    for (int i = 0; i < 50; i++) {
        template_in_dir(paths[i], sizeof paths[i], "many");
        int fd = temp_file_create(paths[i]);
        CHECK(fd >= 0);
        close(fd);
        unlink(paths[i]);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(paths[i], paths[j]) != 0);
    }
}

static void refuses_a_template_without_the_suffix(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/plain", dir);
    errno = 0;
    CHECK_INT(temp_file_create(path), -1);
    CHECK_INT(errno, EINVAL);
    char shorter[] = "XXXXX";
    CHECK_INT(temp_file_create(shorter), -1);
    CHECK_INT(errno, EINVAL);
}

static void fails_with_the_reason_in_a_missing_directory(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/no-such-dir/f.XXXXXX", dir);
    errno = 0;
    CHECK_INT(temp_file_create(path), -1);
    CHECK_INT(errno, ENOENT);
}

static void the_program_name_is_libcs(void)
{
    CHECK_STR(program_name(), program_invocation_short_name);
    CHECK_STR(program_name(), "test_temp_file");
}

static void raw_fstat_matches_fstat_and_keeps_errno(void)
{
    struct stat raw, libc;
    errno = 1234;
    CHECK_INT(raw_fstat(STDIN_FILENO, &raw), 0);
    CHECK_INT(fstat(STDIN_FILENO, &libc), 0);
    CHECK(raw.st_dev == libc.st_dev && raw.st_ino == libc.st_ino);
    errno = 1234;
    CHECK_INT(raw_fstat(-1, &raw), -EBADF);
    CHECK_INT(errno, 1234);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(makes_a_private_close_on_exec_file);
    RUN(names_differ_call_to_call);
    RUN(refuses_a_template_without_the_suffix);
    RUN(fails_with_the_reason_in_a_missing_directory);
    RUN(the_program_name_is_libcs);
    RUN(raw_fstat_matches_fstat_and_keeps_errno);
    rmdir(dir);
    return unit_done();
}
