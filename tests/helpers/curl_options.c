/* curl_options — drives libcurl's easy interface the way programs do, for
 * the tests of fusebox's libcurl hooks. Links libcurl (the shim does not).
 *
 *   curl_options options URL   sets an option of every type (long, string,
 *                              slist, callback, off_t, blob), performs,
 *                              duplicates, resets and cleans up, printing
 *                              each result: the output must be the same with
 *                              and without the shim
 *   curl_options churn N URL   creates, configures, duplicates, resets and
 *                              cleans up N handles (no transfer) and prints
 *                              the peak resident size in KiB
 *   curl_options multi URL...  runs the URLs at once with the multi
 *                              interface and prints each result and error
 *                              buffer; never reads messages with
 *                              --no-info-read (removes the handles when all
 *                              are done)
 *   curl_options cleanup-then-perform URL CMD
 *                              runs URL with the multi interface, cleans the
 *                              multi handle up without reading the message
 *                              or removing the easy handle, runs CMD, then
 *                              performs the same handle with the easy
 *                              interface; prints each result */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct sink {
    size_t bytes;
    unsigned calls;
};

static size_t count_body(char *data, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    (void)data;
    s->bytes += size * n;
    s->calls++;
    return size * n;
}

static int opensocket_calls;

static curl_socket_t counting_opensocket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)user;
    (void)purpose;
    opensocket_calls++;
    return socket(a->family, a->socktype, a->protocol);
}

static void report(const char *what, CURL *h, CURLcode rc, const struct sink *s, const char *errors)
{
    long status = 0;
    curl_off_t uploaded = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    printf("%s: rc=%d status=%ld body=%zu uploaded=%ld opensocket=%d error='%s'\n", what, (int)rc,
           status, s->bytes, (long)uploaded, opensocket_calls, errors);
}

/* Sets one option of each type on h, printing what setopt returned. */
static void configure(CURL *h, const char *url, struct sink *s, struct curl_slist *headers,
                      char *errors)
{
    static const char body[] = "field=value&other=1";
    static char cert_bytes[] = "not a certificate";
    struct curl_blob blob = {cert_bytes, sizeof cert_bytes - 1, CURL_BLOB_COPY};
    printf("setopt long=%d string=%d slist=%d callback=%d data=%d off_t=%d blob=%d "
           "errorbuffer=%d opensocket=%d\n",
           (int)curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L),
           (int)curl_easy_setopt(h, CURLOPT_URL, url),
           (int)curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers),
           (int)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_body),
           (int)curl_easy_setopt(h, CURLOPT_WRITEDATA, s),
           (int)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(sizeof body - 1)),
           (int)curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob),
           (int)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errors),
           (int)curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, counting_opensocket));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
}

static int run_options(const char *url)
{
    char errors[CURL_ERROR_SIZE] = "", dup_errors[CURL_ERROR_SIZE] = "";
    struct sink s = {0, 0}, dup_sink = {0, 0};
    struct curl_slist *headers = curl_slist_append(NULL, "X-Fusebox-Test: yes");
    CURL *h = curl_easy_init();
    configure(h, url, &s, headers, errors);
    report("perform", h, curl_easy_perform(h), &s, errors);

    CURL *copy = curl_easy_duphandle(h);
    curl_easy_setopt(copy, CURLOPT_WRITEDATA, &dup_sink);
    curl_easy_setopt(copy, CURLOPT_ERRORBUFFER, dup_errors);
    report("duphandle", copy, curl_easy_perform(copy), &dup_sink, dup_errors);
    curl_easy_cleanup(copy);

    curl_easy_reset(h);
    s.bytes = 0;
    report("reset (no URL)", h, curl_easy_perform(h), &s, errors);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    report("reset (URL again)", h, curl_easy_perform(h), &s, errors);
    curl_easy_setopt(h, CURLOPT_URL, "http://[::1");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errors);
    report("bad URL", h, curl_easy_perform(h), &s, errors);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    return 0;
}

static int run_churn(long n, const char *url)
{
    char errors[CURL_ERROR_SIZE];
    for (long i = 0; i < n; i++) {
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errors);
        CURL *copy = curl_easy_duphandle(h);
        curl_easy_reset(copy);
        curl_easy_setopt(copy, CURLOPT_URL, url);
        curl_easy_cleanup(copy);
        curl_easy_cleanup(h);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("maxrss_kib %ld\n", ru.ru_maxrss);
    return 0;
}

static int run_multi(int argc, char **argv)
{
    int read_messages = strcmp(argv[0], "--no-info-read") != 0;
    if (!read_messages) {
        argc--;
        argv++;
    }
    CURLM *multi = curl_multi_init();
    CURL *handles[16];
    char errors[16][CURL_ERROR_SIZE];
    struct sink sinks[16];
    int n = argc < 16 ? argc : 16;
    for (int i = 0; i < n; i++) {
        handles[i] = curl_easy_init();
        errors[i][0] = '\0';
        sinks[i] = (struct sink){0, 0};
        curl_easy_setopt(handles[i], CURLOPT_URL, argv[i]);
        curl_easy_setopt(handles[i], CURLOPT_ERRORBUFFER, errors[i]);
        curl_easy_setopt(handles[i], CURLOPT_WRITEFUNCTION, count_body);
        curl_easy_setopt(handles[i], CURLOPT_WRITEDATA, &sinks[i]);
        curl_easy_setopt(handles[i], CURLOPT_TIMEOUT, 10L);
        printf("add %d: %d\n", i, (int)curl_multi_add_handle(multi, handles[i]));
    }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        CURLMsg *m;
        int left;
        while (read_messages && (m = curl_multi_info_read(multi, &left))) {
            for (int i = 0; i < n; i++)
                if (m->msg == CURLMSG_DONE && m->easy_handle == handles[i])
                    printf("done %d: rc=%d error='%s'\n", i, (int)m->data.result, errors[i]);
        }
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, handles[i]);
        curl_easy_cleanup(handles[i]);
    }
    curl_multi_cleanup(multi);
    return 0;
}

static int run_cleanup_then_perform(const char *url, const char *command)
{
    CURLM *multi = curl_multi_init();
    CURL *handle = curl_easy_init();
    struct sink sink = {0, 0};
    curl_easy_setopt(handle, CURLOPT_URL, url);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT, 10L);
    curl_multi_add_handle(multi, handle);
    for (int running = 1; running;) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    printf("multi: status=%ld bytes=%zu\n", status, sink.bytes);
    curl_multi_cleanup(multi); /* the handle was never removed */
    if (system(command) != 0)
        printf("command failed\n");
    printf("easy: rc=%d\n", (int)curl_easy_perform(handle));
    curl_easy_cleanup(handle);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: curl_options options URL | churn N URL | multi URL... | "
                        "cleanup-then-perform URL CMD\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    if (strcmp(argv[1], "options") == 0)
        rc = run_options(argv[2]);
    else if (strcmp(argv[1], "churn") == 0 && argc == 4)
        rc = run_churn(atol(argv[2]), argv[3]);
    else if (strcmp(argv[1], "multi") == 0)
        rc = run_multi(argc - 2, argv + 2);
    else if (strcmp(argv[1], "cleanup-then-perform") == 0 && argc == 4)
        rc = run_cleanup_then_perform(argv[2], argv[3]);
    curl_global_cleanup();
    return rc;
}
