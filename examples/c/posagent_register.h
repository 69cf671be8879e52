/*
 * posagent register kit for C (and C++, and Delphi or anything that can
 * call a C library): send sales and cancels to a posagent over NATS
 * JetStream and wait for the events that answer them. Built on the NATS C
 * client (Debian: libnats-dev). The protocol is described in
 * docs/protocol.md of the posagent repository.
 *
 *   pa_register *r;
 *   uint64_t seq;
 *   pa_event ev;
 *   pa_open(&r, "nats://127.0.0.1:4222", "pos", "S001", "STORE001POS001");
 *   pa_sale(r, "000123", "150.00", 120000, &seq, NULL);
 *   pa_wait(r, "000123", seq, "created processed expired canceled", 60000, &ev);
 *   ... ev.status is "created": show ev.qr_data; wait again for the final one ...
 *   pa_close(r);
 *
 * Not thread-safe: use one pa_register per thread (or a lock).
 */
#ifndef POSAGENT_REGISTER_H
#define POSAGENT_REGISTER_H

#include <stdbool.h>
#include <stdint.h>
#include <nats/nats.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pa_register pa_register;

/* One event from the agent; the fields most registers need, and the whole
 * JSON in json (valid until the next pa_wait or pa_close). */
typedef struct pa_event {
    char     status[32];      /* created, processed, expired, canceled, refunded, rejected, failed */
    char     sale_id[68];
    char     order_id[68];
    char     status_detail[40];
    char     error_code[68];  /* rejected and failed */
    char     sale_status[32]; /* rejected: the sale's status when the command did not fit it */
    char     qr_data[1024];   /* created (dynamic and hybrid) */
    bool     replay;          /* the answer to a resend: the earlier event again */
    uint64_t command_seq;     /* rejected and failed: the stream sequence of the command answered */
    const char *json;
} pa_event;

/* pa_open connects (retrying until the server is up, and reconnecting
 * forever) and starts following the POS's events, live and from the events
 * stream POS_EVT, so that nothing published while the connection was down
 * is missed. */
natsStatus pa_open(pa_register **r, const char *url, const char *prefix, const char *store, const char *pos);
void pa_close(pa_register *r);

/* pa_send stores a command (verb sale, cancel, refund or display; json its
 * payload) in the command stream with a JetStream publish, sending the same
 * bytes again until the stream acknowledges it or timeout_ms passes. A core
 * publish made while the agent and its NATS restart would be lost: this is
 * the one way to send. seq receives the command's stream sequence; retries,
 * if not NULL, how many attempts failed first. */
natsStatus pa_send(pa_register *r, const char *verb, const char *json, int64_t timeout_ms, uint64_t *seq, int *retries);

/* pa_on_retry sets a function called after each failed attempt of
 * pa_send (e.g. to tell the cashier the agent is not reachable yet). */
void pa_on_retry(pa_register *r, void (*fn)(int attempt, natsStatus s, void *closure), void *closure);

/* pa_sale sends {"sale_id": sale_id, "total_amount": amount}. */
natsStatus pa_sale(pa_register *r, const char *sale_id, const char *amount, int64_t timeout_ms, uint64_t *seq, int *retries);

/* pa_cancel sends {"sale_id": sale_id} on cmd.cancel. */
natsStatus pa_cancel(pa_register *r, const char *sale_id, int64_t timeout_ms, uint64_t *seq, int *retries);

/* pa_wait waits for the next event about sale_id whose status is one of
 * until (space-separated), or for the rejected/failed event answering the
 * command with stream sequence seq. NATS_TIMEOUT when none comes in
 * timeout_ms. Each event is seen once (a resend's replay excepted). */
natsStatus pa_wait(pa_register *r, const char *sale_id, uint64_t seq, const char *until, int64_t timeout_ms, pa_event *ev);

#ifdef __cplusplus
}
#endif

#endif
