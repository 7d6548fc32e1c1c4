/* SPDX-License-Identifier: Apache-2.0 */
/* The test SMTP server: one thread, one connection at a time, line-based. */
#include "smtp_harness.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define S_MAX_MAILS 64
#define S_MAX_LINE 4096
#define S_MAX_DATA (1u << 20)

struct sh_smtp {
    pthread_mutex_t lock;
    pthread_t thread;
    int fd;
    atomic_bool stop;
    char *refuse;
    struct sh_mail mails[S_MAX_MAILS];
    size_t n_mails, n_refused;
};

struct s_conn {
    int fd;
    char buf[S_MAX_LINE * 2];
    size_t len;
};

static char *
s_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Reads one line without its CRLF into line. 0, or -1 on EOF, error or an overlong line. */
static int
s_line(struct s_conn *c, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            size_t keep = n && c->buf[n - 1] == '\r' ? n - 1 : n;
            if (keep >= cap) {
                return -1;
            }
            memcpy(line, c->buf, keep);
            line[keep] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 0;
        }
        if (c->len == sizeof c->buf) {
            return -1;
        }
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0) {
            return -1;
        }
        c->len += (size_t)r;
    }
}

static void
s_say(struct s_conn *c, const char *text)
{
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(c->fd, text + off, n - off);
        if (w <= 0) {
            return;
        }
        off += (size_t)w;
    }
}

/* The address between < and > after "MAIL FROM:" / "RCPT TO:". */
static char *
s_addr(const char *arg)
{
    const char *lt = strchr(arg, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt) {
        return NULL;
    }
    char *a = strndup(lt + 1, (size_t)(gt - lt - 1));
    ck_assert_ptr_nonnull(a);
    return a;
}

static void
s_reset(struct sh_mail *m)
{
    free(m->from);
    for (size_t i = 0; i < m->n_rcpt; i++) {
        free(m->rcpt[i]);
    }
    free(m->data);
    char *helo = m->helo;
    memset(m, 0, sizeof *m);
    m->helo = helo;
}

/* Reads the message after 354; returns it (dot-unstuffed) or NULL when the peer went away. */
static char *
s_data(struct s_conn *c)
{
    char line[S_MAX_LINE];
    size_t len = 0, cap = 4096;
    char *data = malloc(cap);
    ck_assert_ptr_nonnull(data);
    data[0] = '\0';
    while (s_line(c, line, sizeof line) == 0) {
        if (strcmp(line, ".") == 0) {
            return data;
        }
        const char *p = line[0] == '.' ? line + 1 : line;
        size_t n = strlen(p);
        if (len + n + 3 > S_MAX_DATA) {
            break;
        }
        if (len + n + 3 > cap) {
            cap = (len + n + 3) * 2;
            data = realloc(data, cap);
            ck_assert_ptr_nonnull(data);
        }
        memcpy(data + len, p, n);
        len += n;
        memcpy(data + len, "\r\n", 3);
        len += 2;
    }
    free(data);
    return NULL;
}

static void
s_session(sh_smtp_t *s, int fd)
{
    struct s_conn c = {.fd = fd};
    struct sh_mail m = {0};
    char line[S_MAX_LINE];
    s_say(&c, "220 vexfs-test ESMTP\r\n");
    while (!s->stop && s_line(&c, line, sizeof line) == 0) {
        if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "HELO", 4) == 0) {
            free(m.helo);
            m.helo = s_dup(line[4] == ' ' ? line + 5 : "");
            s_reset(&m);
            s_say(&c, "250 vexfs-test\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            s_reset(&m);
            m.from = s_addr(line + 10);
            s_say(&c, m.from ? "250 OK\r\n" : "501 bad address\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            char *a = s_addr(line + 8);
            pthread_mutex_lock(&s->lock);
            bool refused = a && s->refuse && strcasecmp(a, s->refuse) == 0;
            s->n_refused += refused;
            pthread_mutex_unlock(&s->lock);
            if (!m.from) {
                s_say(&c, "503 MAIL first\r\n");
                free(a);
            } else if (!a) {
                s_say(&c, "501 bad address\r\n");
            } else if (refused) {
                s_say(&c, "550 no such user here\r\n");
                free(a);
            } else if (m.n_rcpt == SH_MAX_RCPT) {
                s_say(&c, "452 too many recipients\r\n");
                free(a);
            } else {
                m.rcpt[m.n_rcpt++] = a;
                s_say(&c, "250 OK\r\n");
            }
        } else if (strcasecmp(line, "DATA") == 0) {
            if (!m.from || m.n_rcpt == 0) {
                s_say(&c, "503 no valid recipients\r\n");
                continue;
            }
            s_say(&c, "354 end with <CRLF>.<CRLF>\r\n");
            m.data = s_data(&c);
            if (!m.data) {
                break;
            }
            pthread_mutex_lock(&s->lock);
            if (s->n_mails < S_MAX_MAILS) {
                s->mails[s->n_mails++] = m; /* takes every string, helo included */
                memset(&m, 0, sizeof m);
                m.helo = s_dup(s->mails[s->n_mails - 1].helo);
            }
            pthread_mutex_unlock(&s->lock);
            s_reset(&m);
            s_say(&c, "250 OK queued\r\n");
        } else if (strcasecmp(line, "RSET") == 0) {
            s_reset(&m);
            s_say(&c, "250 OK\r\n");
        } else if (strcasecmp(line, "NOOP") == 0) {
            s_say(&c, "250 OK\r\n");
        } else if (strcasecmp(line, "QUIT") == 0) {
            s_say(&c, "221 bye\r\n");
            break;
        } else {
            s_say(&c, "502 command not implemented\r\n");
        }
    }
    s_reset(&m);
    free(m.helo);
}

static void *
cb_serve(void *arg)
{
    sh_smtp_t *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        s_session(s, fd);
        close(fd);
    }
    return NULL;
}

sh_smtp_t *
sh_smtp_start(uint16_t *port)
{
    sh_smtp_t *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(s->fd, 8), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, cb_serve, s), 0);
    return s;
}

void
sh_smtp_stop(sh_smtp_t **sp)
{
    sh_smtp_t *s = *sp;
    if (!s) {
        return;
    }
    s->stop = true;
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < s->n_mails; i++) {
        sh_mail_free(&s->mails[i]);
    }
    free(s->refuse);
    pthread_mutex_destroy(&s->lock);
    free(s);
    *sp = NULL;
}

void
sh_smtp_refuse(sh_smtp_t *s, const char *addr)
{
    pthread_mutex_lock(&s->lock);
    free(s->refuse);
    s->refuse = addr ? s_dup(addr) : NULL;
    pthread_mutex_unlock(&s->lock);
}

size_t
sh_smtp_count(sh_smtp_t *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_mails;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t
sh_smtp_refused(sh_smtp_t *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_refused;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int
sh_smtp_get(sh_smtp_t *s, size_t i, struct sh_mail *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    int rc = -1;
    if (i < s->n_mails) {
        const struct sh_mail *m = &s->mails[i];
        out->helo = s_dup(m->helo);
        out->from = s_dup(m->from);
        for (size_t k = 0; k < m->n_rcpt; k++) {
            out->rcpt[k] = s_dup(m->rcpt[k]);
        }
        out->n_rcpt = m->n_rcpt;
        out->data = s_dup(m->data);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void
sh_mail_free(struct sh_mail *m)
{
    s_reset(m);
    free(m->helo);
    m->helo = NULL;
}
