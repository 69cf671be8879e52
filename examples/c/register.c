/*
 * register: a register in C, for trying posagent from a shell.
 *
 *   NATS_URL=nats://127.0.0.1:4222 STORE=DEMO POS=DEMOPOS1 ./register sale 000123 150.00
 *   NATS_URL=... ./register cancel 000123
 *
 * sale prints "stored seq N retries R", then "created order=... qr=..."
 * once the QR is on the customer display, then the final event; it exits
 * 0 only when the sale ends processed. cancel prints the sale's final
 * event and exits 0 only on canceled. Every line is flushed at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posagent_register.h"

static const char *env(const char *k, const char *def)
{
    const char *v = getenv(k);
    return v != NULL && *v != '\0' ? v : def;
}

static void print_event(const pa_event *ev)
{
    printf("%s sale=%s order=%s detail=%s code=%s sale_status=%s replay=%d",
           ev->status, ev->sale_id, ev->order_id, ev->status_detail, ev->error_code, ev->sale_status, ev->replay);
    if (ev->qr_data[0] != '\0')
        printf(" qr=%s", ev->qr_data);
    printf("\n");
    fflush(stdout);
}

static void print_retry(int attempt, natsStatus s, void *closure)
{
    (void) closure;
    printf("retry %d: %s\n", attempt, natsStatus_GetText(s));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "sale") == 0 && argc < 4)) {
        fprintf(stderr, "usage: register sale SALE_ID AMOUNT | register cancel SALE_ID\n"
                        "environment: NATS_URL, STORE, POS, SUBJECT_PREFIX (default pos)\n");
        return 2;
    }
    const char *sale_id = argv[2];
    pa_register *r = NULL;
    natsStatus s = pa_open(&r, env("NATS_URL", "nats://127.0.0.1:4222"), env("SUBJECT_PREFIX", "pos"),
                           env("STORE", "DEMO"), env("POS", "DEMOPOS1"));
    if (s != NATS_OK) {
        fprintf(stderr, "register: connect: %s\n", natsStatus_GetText(s));
        return 1;
    }
    pa_on_retry(r, print_retry, NULL);
    uint64_t seq = 0;
    int retries = 0;
    bool sale = strcmp(argv[1], "sale") == 0;
    if (sale)
        s = pa_sale(r, sale_id, argv[3], 120000, &seq, &retries);
    else
        s = pa_cancel(r, sale_id, 120000, &seq, &retries);
    if (s != NATS_OK) {
        fprintf(stderr, "register: the command was not stored: %s\n", natsStatus_GetText(s));
        pa_close(r);
        return 1;
    }
    printf("stored seq %llu retries %d\n", (unsigned long long) seq, retries);
    fflush(stdout);

    const char *finals = "processed expired canceled";
    pa_event ev;
    int rc = 1;
    if (sale) {
        s = pa_wait(r, sale_id, seq, "created processed expired canceled", 60000, &ev);
        if (s == NATS_OK)
            print_event(&ev);
        if (s == NATS_OK && strcmp(ev.status, "created") == 0) {
            s = pa_wait(r, sale_id, seq, finals, 15 * 60 * 1000, &ev);
            if (s == NATS_OK)
                print_event(&ev);
        }
        rc = s == NATS_OK && strcmp(ev.status, "processed") == 0 ? 0 : 1;
    } else {
        s = pa_wait(r, sale_id, seq, finals, 60000, &ev);
        if (s == NATS_OK)
            print_event(&ev);
        rc = s == NATS_OK && strcmp(ev.status, "canceled") == 0 ? 0 : 1;
    }
    if (s != NATS_OK)
        fprintf(stderr, "register: no answer: %s\n", natsStatus_GetText(s));
    pa_close(r);
    nats_Close();
    return rc;
}
