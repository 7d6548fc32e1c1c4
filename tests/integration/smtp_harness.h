/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal SMTP server for integration tests: listens on a free loopback port and serves one
 * connection at a time in its own thread (220 greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA
 * until a line holding a single ".", RSET, NOOP, QUIT). It records every accepted message with
 * its envelope, and answers 550 to RCPT TO for addresses set with sh_smtp_refuse. */
#ifndef SMTP_HARNESS_H
#define SMTP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define SH_MAX_RCPT 16

typedef struct sh_smtp sh_smtp_t;

struct sh_mail {
    char *helo;                 /* the EHLO/HELO argument */
    char *from;                 /* MAIL FROM address, without <> */
    char *rcpt[SH_MAX_RCPT];    /* accepted RCPT TO addresses, without <> */
    size_t n_rcpt;
    char *data;                 /* the message, dot-unstuffed, CRLF kept, without the "." line */
};

/* Starts the server; fails the test when it cannot. *port: where it listens. */
sh_smtp_t *sh_smtp_start(uint16_t *port);
/* Stops the thread and frees every record. */
void sh_smtp_stop(sh_smtp_t **s);
/* RCPT TO for this address (NULL: none) is answered 550 from now on. */
void sh_smtp_refuse(sh_smtp_t *s, const char *addr);
/* Messages accepted so far, and RCPT TO commands refused. */
size_t sh_smtp_count(sh_smtp_t *s);
size_t sh_smtp_refused(sh_smtp_t *s);
/* A copy of message i (caller frees with sh_mail_free); 0 or -1 when there is no such one. */
int sh_smtp_get(sh_smtp_t *s, size_t i, struct sh_mail *out);
void sh_mail_free(struct sh_mail *m);

#endif
