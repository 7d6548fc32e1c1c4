/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: real HTTP requests (libcurl), free loopback ports, real daemon processes. */
#include "vx_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vx_mem.h"

struct s_buf {
    char *data;
    size_t len;
};

static size_t
cb_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s_buf *b = arg;
    size_t n = size * nmemb;
    char *d = realloc(b->data, b->len + n + 1);
    if (!d) {
        return 0;
    }
    memcpy(d + b->len, ptr, n);
    b->data = d;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static bool s_plain_http;
static const char *s_resolve; /* vt_http_resolve's entries, borrowed */

/* vt_http_route's table: ports whose server is off loopback. */
#define S_ROUTES 16
static struct {
    uint16_t port;
    char addr[48];
} s_routes[S_ROUTES];
static pthread_mutex_t s_routes_lock = PTHREAD_MUTEX_INITIALIZER;

void
vt_http_route(uint16_t port, const char *addr)
{
    pthread_mutex_lock(&s_routes_lock);
    int free_slot = -1;
    for (int i = 0; i < S_ROUTES; i++) {
        if (s_routes[i].port == port) {
            s_routes[i].port = 0;
        }
        if (s_routes[i].port == 0 && free_slot < 0) {
            free_slot = i;
        }
    }
    if (addr && free_slot >= 0) {
        s_routes[free_slot].port = port;
        snprintf(s_routes[free_slot].addr, sizeof s_routes[free_slot].addr, "%s", addr);
    }
    pthread_mutex_unlock(&s_routes_lock);
}

/* The address port is routed to, into addr; false when it is on loopback. */
static bool
s_route_of(uint16_t port, char *addr, size_t len)
{
    bool found = false;
    pthread_mutex_lock(&s_routes_lock);
    for (int i = 0; i < S_ROUTES && !found; i++) {
        if (s_routes[i].port == port) {
            snprintf(addr, len, "%s", s_routes[i].addr);
            found = true;
        }
    }
    pthread_mutex_unlock(&s_routes_lock);
    return found;
}

void
vt_http_resolve(const char *entries)
{
    s_resolve = entries;
}

void
vt_http_plain(bool plain)
{
    s_plain_http = plain;
}

static int s_http_url(const char *method, const char *url, const char *body, size_t body_len,
                      const char *token, bool present_cert, const char *resolve_one,
                      struct vt_http_result *out);

/* The calling thread's reused handle (vt_http_keep_alive), or NULL: a handle per request. */
static __thread CURL *s_keep;
static __thread bool s_keep_on;

void
vt_http_keep_alive(bool on)
{
    s_keep_on = on;
    if (!on && s_keep != NULL) {
        curl_easy_cleanup(s_keep);
        s_keep = NULL;
    }
}

static int
s_http(const char *method, uint16_t port, const char *path, const char *body, size_t body_len,
       const char *token, bool present_cert, struct vt_http_result *out)
{
    char url[1024], addr[48], resolve[96] = "";
    const char *tls = s_plain_http ? "" : vt_tls_dir();
    const char *host = "127.0.0.1";
    if (s_route_of(port, addr, sizeof addr)) {
        if (tls[0]) {
            host = "localhost"; /* named by the certificate; resolved to addr */
            snprintf(resolve, sizeof resolve, "localhost:%u:%s", (unsigned)port, addr);
        } else {
            host = addr;
        }
    }
    snprintf(url, sizeof url, "%s://%s:%u%s", tls[0] ? "https" : "http", host, (unsigned)port,
             path);
    return s_http_url(method, url, body, body_len, token, present_cert,
                      resolve[0] ? resolve : NULL, out);
}

/* present_cert: send the client certificate "test" on an https URL (false: a stranger). */
static int
s_http_url(const char *method, const char *url, const char *body, size_t body_len,
           const char *token, bool present_cert, const char *resolve_one,
           struct vt_http_result *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = NULL;
    if (s_keep_on && s_keep != NULL) {
        c = s_keep; /* its connection (and TLS session) stays open for the next request */
        curl_easy_reset(c);
    } else {
        c = curl_easy_init();
    }
    if (!c) {
        return -ENOMEM;
    }
    if (s_keep_on) {
        s_keep = c;
    }
    const char *tls = vt_tls_dir();
    if (strncmp(url, "https://", 8) == 0 && tls[0]) {
        /* As production clients do: the suite's authority, the admin certificate "test"
         * (a deployment's own, vt_secure_use). */
        char ca[400], cert[400], key[400];
        snprintf(ca, sizeof ca, "%s/ca.crt", tls);
        snprintf(cert, sizeof cert, "%s/%s.crt", tls, vt_tls_client());
        snprintf(key, sizeof key, "%s/%s.key", tls, vt_tls_client());
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        if (present_cert) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
            curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        }
    }
    struct curl_slist *resolve = NULL;
    if (resolve_one) {
        resolve = curl_slist_append(resolve, resolve_one);
    }
    for (const char *e = s_resolve; e && *e;) {
        const char *comma = strchr(e, ',');
        size_t n = comma ? (size_t)(comma - e) : strlen(e);
        char entry[256];
        snprintf(entry, sizeof entry, "%.*s", (int)(n < sizeof entry ? n : sizeof entry - 1), e);
        resolve = curl_slist_append(resolve, entry);
        e = comma ? comma + 1 : e + n;
    }
    if (resolve) {
        curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    }
    struct s_buf buf = {calloc(1, 1), 0};
    struct curl_slist *hdrs = NULL;
    char auth[512];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        out->content_type = ct ? strdup(ct) : NULL;
    }
    out->body = buf.data;
    out->len = buf.len;
    curl_slist_free_all(hdrs);
    if (c != s_keep) {
        curl_easy_cleanup(c);
    } else {
        curl_easy_setopt(c, CURLOPT_RESOLVE, NULL); /* the list goes now: not for the next call */
    }
    curl_slist_free_all(resolve);
    return rc == CURLE_OK ? 0 : -EIO;
}

int
vt_http_url(const char *method, const char *url, const char *body, size_t body_len,
            const char *token, struct vt_http_result *out)
{
    return s_http_url(method, url, body, body_len, token, true, NULL, out);
}

int
vt_http(const char *method, uint16_t port, const char *path, const char *body, size_t body_len,
        const char *token, struct vt_http_result *out)
{
    return s_http(method, port, path, body, body_len, token, true, out);
}

int
vt_http_anon(const char *method, uint16_t port, const char *path, const char *body,
             struct vt_http_result *out)
{
    return s_http(method, port, path, body, body ? strlen(body) : 0, NULL, false, out);
}

long
vt_http_anon_status(const char *method, uint16_t port, const char *path, const char *body)
{
    struct vt_http_result r;
    long status = vt_http_anon(method, port, path, body, &r) == 0 ? r.status : 0;
    vt_http_result_fini(&r);
    return status;
}

void
vt_http_result_fini(struct vt_http_result *r)
{
    free(r->body);
    free(r->content_type);
    memset(r, 0, sizeof *r);
}

double
vt_metric(uint16_t port, const char *series)
{
    struct vt_http_result r;
    double v = -1;
    if (vt_http("GET", port, "/metrics", NULL, 0, NULL, &r) == 0 && r.status == 200) {
        /* A sample line starts with the series; # HELP and # TYPE lines do not. */
        size_t n = strlen(series);
        for (char *line = r.body; line && *line;) {
            char *next = strchr(line, '\n');
            if (strncmp(line, series, n) == 0 && line[n] == ' ') {
                v = strtod(line + n + 1, NULL);
                break;
            }
            line = next ? next + 1 : NULL;
        }
    }
    vt_http_result_fini(&r);
    return v;
}

/* The sum of every sample of a metric in a Prometheus text exposition, or -1 without one. */
double
vt_metric_text_sum(const char *text, const char *name)
{
    double sum = -1;
    size_t n = strlen(name);
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        if (strncmp(line, name, n) == 0 && (line[n] == ' ' || line[n] == '{')) {
            const char *v = line[n] == '{' ? strchr(line + n, '}') : line + n;
            if (v) {
                sum = (sum < 0 ? 0 : sum) + strtod(v + 1, NULL);
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

double
vt_metric_sum(uint16_t port, const char *name)
{
    struct vt_http_result r;
    double v = -1;
    if (vt_http("GET", port, "/metrics", NULL, 0, NULL, &r) == 0 && r.status == 200 && r.body) {
        v = vt_metric_text_sum(r.body, name);
    }
    vt_http_result_fini(&r);
    return v;
}

/* Ports handed out come from 20000-32767, below Linux's default ephemeral range
 * (32768-60999): a port chosen there could be taken, before the daemon binds it, by the
 * outgoing connection of some other process (a Kafka client, a ZeroMQ peer) on this busy
 * machine. The start is random per process, and one process never gets a port twice. */
#define S_PORT_LO 20000
#define S_PORT_HI 32767

static bool
s_port_bindable(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(port)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

uint16_t
vt_free_port(void)
{
    static unsigned next;
    static bool seeded;
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        next = ((unsigned)getpid() * 7919u + (unsigned)ts.tv_nsec) % (S_PORT_HI - S_PORT_LO + 1);
        seeded = true;
    }
    for (unsigned tries = 0; tries <= S_PORT_HI - S_PORT_LO; tries++) {
        uint16_t port = (uint16_t)(S_PORT_LO + next);
        next = (next + 1) % (S_PORT_HI - S_PORT_LO + 1);
        if (s_port_bindable(port)) {
            return port;
        }
    }
    return 0;
}

void
vt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

uint64_t
vt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool
vt_wait_until(bool (*fn)(void *arg), void *arg, int timeout_ms)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (fn(arg)) {
            return true;
        }
        if (vt_now_ms() >= deadline) {
            return fn(arg);
        }
        usleep(10 * 1000);
    }
}

static bool
s_is_ready(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    struct vt_http_result r;
    bool ok = vt_http("GET", port, "/ready", NULL, 0, NULL, &r) == 0 && r.status == 200;
    vt_http_result_fini(&r);
    return ok;
}

bool
vt_wait_ready(uint16_t port, int timeout_ms)
{
    return vt_wait_until(s_is_ready, &port, timeout_ms);
}

pid_t
vt_spawn(char *const argv[], char *const env[], const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    if (env) {
        for (char *const *e = env; *e; e++) {
            putenv(*e);
        }
    }
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int
vt_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0) {
        return -1;
    }
    kill(pid, sig);
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 || vt_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(10 * 1000);
    }
}

const char *
vt_bin_dir(void)
{
    const char *d = getenv("VX_BIN_DIR");
    return d && *d ? d : "build/bin";
}

const char *
vt_tmp_root(void)
{
    const char *d = getenv("VX_TEST_TMP");
    return d && *d ? d : "/tmp";
}

char *
vt_tmpdir(void)
{
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/vexfs-test.XXXXXX", vt_tmp_root());
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

int
vt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -errno;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -errno;
}

pid_t
vt_spawn_pipes(char *const argv[], char *const env[], int *in_fd, int *out_fd, int *err_fd)
{
    int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1};
    if ((in_fd && pipe2(p_in, O_CLOEXEC) < 0) || (out_fd && pipe2(p_out, O_CLOEXEC) < 0) ||
        (err_fd && pipe2(p_err, O_CLOEXEC) < 0)) {
        goto fail;
    }
    pid_t pid = fork();
    if (pid < 0) {
        goto fail;
    }
    if (pid == 0) {
        if (env) {
            for (char *const *e = env; *e; e++) {
                putenv(*e);
            }
        }
        int in = in_fd ? p_in[0] : open("/dev/null", O_RDONLY);
        if (in >= 0) {
            dup2(in, STDIN_FILENO);
        }
        if (out_fd) {
            dup2(p_out[1], STDOUT_FILENO);
        }
        if (err_fd) {
            dup2(p_err[1], STDERR_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (in_fd) {
        close(p_in[0]);
        *in_fd = p_in[1];
    }
    if (out_fd) {
        close(p_out[1]);
        *out_fd = p_out[0];
    }
    if (err_fd) {
        close(p_err[1]);
        *err_fd = p_err[0];
    }
    return pid;
fail:
    for (int i = 0; i < 2; i++) {
        if (p_in[i] >= 0) {
            close(p_in[i]);
        }
        if (p_out[i] >= 0) {
            close(p_out[i]);
        }
        if (p_err[i] >= 0) {
            close(p_err[i]);
        }
    }
    return -1;
}

int
vt_wait_exit(pid_t pid, int timeout_ms)
{
    if (pid <= 0) {
        return -1;
    }
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 || vt_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(5 * 1000);
    }
}

/* Appends what fd has to b; closes fd and sets it to -1 at end of file or on error. */
static void
s_drain_fd(int *fd, struct s_buf *b)
{
    char chunk[8192];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    cb_write(chunk, 1, (size_t)n, b);
}

int
vt_run(char *const argv[], char *const env[], const char *stdin_text, int timeout_ms,
       struct vt_run_result *out)
{
    memset(out, 0, sizeof *out);
    out->status = -1;
    struct s_buf ob = {calloc(1, 1), 0}, eb = {calloc(1, 1), 0};
    int in = -1, o = -1, e = -1;
    /* A child that exits before reading all of stdin must not kill us with SIGPIPE. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    pid_t pid = vt_spawn_pipes(argv, env, &in, &o, &e);
    if (pid < 0) {
        int err = errno;
        sigaction(SIGPIPE, &old, NULL);
        out->out = ob.data;
        out->err = eb.data;
        return -(err ? err : EIO);
    }
    out->pid = pid;
    fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
    size_t to_write = stdin_text ? strlen(stdin_text) : 0, written = 0;
    if (to_write == 0) {
        close(in);
        in = -1;
    }
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    bool timed_out = false;
    while (o >= 0 || e >= 0 || in >= 0) {
        uint64_t now = vt_now_ms();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd pfd[3] = {
            {.fd = in, .events = POLLOUT},
            {.fd = o, .events = POLLIN},
            {.fd = e, .events = POLLIN},
        };
        int rc = poll(pfd, 3, (int)(deadline - now));
        if (rc < 0 && errno != EINTR) {
            break;
        }
        if (rc <= 0) {
            continue;
        }
        if (in >= 0 && pfd[0].revents) {
            ssize_t n = write(in, stdin_text + written, to_write - written);
            if (n > 0) {
                written += (size_t)n;
            }
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == to_write) {
                close(in);
                in = -1;
            }
        }
        if (o >= 0 && pfd[1].revents) {
            s_drain_fd(&o, &ob);
        }
        if (e >= 0 && pfd[2].revents) {
            s_drain_fd(&e, &eb);
        }
    }
    if (in >= 0) {
        close(in);
    }
    if (o >= 0) {
        close(o);
    }
    if (e >= 0) {
        close(e);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &out->status, 0);
        out->status = -1;
    } else {
        uint64_t now = vt_now_ms();
        out->status = vt_wait_exit(pid, now < deadline ? (int)(deadline - now) : 0);
        timed_out = out->status == -1;
    }
    sigaction(SIGPIPE, &old, NULL);
    out->out = ob.data;
    out->out_len = ob.len;
    out->err = eb.data;
    out->err_len = eb.len;
    return timed_out ? -ETIMEDOUT : 0;
}

void
vt_run_result_fini(struct vt_run_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

int
vt_pids_note(const char *dir, pid_t pid)
{
    char pids[VX_PATH_MAX];
    snprintf(pids, sizeof pids, "%s/pids", dir);
    FILE *f = fopen(pids, "a");
    if (!f) {
        return -errno;
    }
    fprintf(f, "%d\n", (int)pid);
    return fclose(f) == 0 ? 0 : -errno;
}

void
vt_pids_kill(const char *dir)
{
    char pids[VX_PATH_MAX];
    snprintf(pids, sizeof pids, "%s/pids", dir);
    FILE *f = fopen(pids, "r");
    int pid;
    while (f && fscanf(f, "%d", &pid) == 1) {
        if (pid > 0 && kill(pid, 0) == 0) {
            kill(pid, SIGKILL);
        }
    }
    if (f) {
        fclose(f);
    }
}
