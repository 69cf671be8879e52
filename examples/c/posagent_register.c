/* posagent register kit for C: see posagent_register.h. */
#include "posagent_register.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PA_SEEN 512

struct pa_register {
    natsConnection   *nc;
    jsCtx            *js;
    natsSubscription *live;   /* core subscription: sees replays, lost while disconnected */
    natsSubscription *stream; /* ordered consumer on POS_EVT: survives reconnects */
    char              prefix[64], store[64], pos[64];
    char              evt_subject[256];
    uint64_t          last_seq;   /* last stream sequence read from POS_EVT */
    int64_t           start_ns;   /* read POS_EVT from this time until a sequence is known */
    volatile int      reconnected;
    char             *seen[PA_SEEN];
    int               seen_next;
    char             *json;       /* the last event's JSON, for pa_event.json */
    void            (*on_retry)(int attempt, natsStatus s, void *closure);
    void             *on_retry_closure;
};

void pa_on_retry(pa_register *r, void (*fn)(int attempt, natsStatus s, void *closure), void *closure)
{
    r->on_retry = fn;
    r->on_retry_closure = closure;
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void) nc;
    ((pa_register *) closure)->reconnected = 1;
}

/* json_str copies the string value of "key" (a key of the event object or
 * of its error object) into out; the agent writes compact JSON. */
static bool json_str(const char *json, const char *key, char *out, size_t n)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json;
    while ((p = strstr(p, pat)) != NULL) {
        if (p > json && (p[-1] == '{' || p[-1] == ','))
            break;
        p++;
    }
    out[0] = '\0';
    if (p == NULL)
        return false;
    p += strlen(pat);
    size_t i = 0;
    for (; *p && *p != '"' && i + 1 < n; p++) {
        if (*p == '\\' && p[1])
            p++;
        out[i++] = *p;
    }
    out[i] = '\0';
    return true;
}

static void parse_event(const char *json, const char *msg_id, pa_event *ev)
{
    memset(ev, 0, sizeof *ev);
    json_str(json, "status", ev->status, sizeof ev->status);
    json_str(json, "sale_id", ev->sale_id, sizeof ev->sale_id);
    json_str(json, "order_id", ev->order_id, sizeof ev->order_id);
    json_str(json, "status_detail", ev->status_detail, sizeof ev->status_detail);
    json_str(json, "code", ev->error_code, sizeof ev->error_code);
    json_str(json, "sale_status", ev->sale_status, sizeof ev->sale_status);
    json_str(json, "qr_data", ev->qr_data, sizeof ev->qr_data);
    ev->replay = strstr(json, ",\"replay\":true") != NULL;
    const char *c = msg_id ? strstr(msg_id, ".cmd.") : NULL;
    if (c != NULL)
        ev->command_seq = strtoull(c + 5, NULL, 10);
    ev->json = json;
}

static bool is_command_answer(const pa_event *ev)
{
    return strcmp(ev->status, "rejected") == 0 || strcmp(ev->status, "failed") == 0;
}

/* first_time records an event's identity (sale_id + status + refund_id,
 * or the message id of a rejected/failed event) and says whether it is new. */
static bool first_time(pa_register *r, const pa_event *ev, const char *msg_id)
{
    char key[256], refund[68];
    json_str(ev->json, "refund_id", refund, sizeof refund);
    if (is_command_answer(ev))
        snprintf(key, sizeof key, "%s", msg_id ? msg_id : ev->json);
    else
        snprintf(key, sizeof key, "%s|%s|%s", ev->sale_id, ev->status, refund);
    for (int i = 0; i < PA_SEEN; i++)
        if (r->seen[i] != NULL && strcmp(r->seen[i], key) == 0)
            return false;
    free(r->seen[r->seen_next]);
    r->seen[r->seen_next] = strdup(key);
    r->seen_next = (r->seen_next + 1) % PA_SEEN;
    return true;
}

/* follow_stream (re)creates the ordered consumer on POS_EVT, from the
 * event after the last one read, or from the open time. */
static natsStatus follow_stream(pa_register *r)
{
    if (r->stream != NULL) {
        natsSubscription_Destroy(r->stream);
        r->stream = NULL;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "POS_EVT";
    so.Ordered = true;
    if (r->last_seq > 0) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = r->last_seq + 1;
    } else {
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = r->start_ns;
    }
    jsErrCode jerr = 0;
    return js_SubscribeSync(&r->stream, r->js, r->evt_subject, NULL, &so, &jerr);
}

natsStatus pa_open(pa_register **out, const char *url, const char *prefix, const char *store, const char *pos)
{
    pa_register *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NATS_NO_MEMORY;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    snprintf(r->store, sizeof r->store, "%s", store);
    snprintf(r->pos, sizeof r->pos, "%s", pos);
    snprintf(r->evt_subject, sizeof r->evt_subject, "%s.%s.%s.evt.>", prefix, store, pos);
    r->start_ns = nats_NowInNanoSeconds() - 1000000000LL;

    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK) s = natsOptions_SetName(opts, "posagent-register-c");
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, r);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, on_reconnected, r);
    if (s == NATS_OK) s = natsConnection_Connect(&r->nc, opts);
    natsOptions_Destroy(opts);
    if (s == NATS_NOT_YET_CONNECTED)
        s = NATS_OK; /* the server is not up yet: the client keeps trying */
    if (s == NATS_OK) s = natsConnection_JetStream(&r->js, r->nc, NULL);
    if (s == NATS_OK) s = natsConnection_SubscribeSync(&r->live, r->nc, r->evt_subject);
    if (s != NATS_OK) {
        pa_close(r);
        return s;
    }
    follow_stream(r); /* the stream may not exist yet: pa_wait tries again */
    *out = r;
    return NATS_OK;
}

void pa_close(pa_register *r)
{
    if (r == NULL)
        return;
    /* Close first: the connection's reader thread stops while the
     * subscriptions it may be delivering to still exist. Destroying an
     * ordered consumer's subscription under a running reader deadlocked
     * natsConnection_Destroy now and then (libnats 3.4). */
    if (r->nc != NULL)
        natsConnection_Close(r->nc);
    natsSubscription_Destroy(r->stream);
    natsSubscription_Destroy(r->live);
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
    for (int i = 0; i < PA_SEEN; i++)
        free(r->seen[i]);
    free(r->json);
    free(r);
}

natsStatus pa_send(pa_register *r, const char *verb, const char *json, int64_t timeout_ms, uint64_t *seq, int *retries)
{
    char subject[256];
    snprintf(subject, sizeof subject, "%s.%s.%s.cmd.%s", r->prefix, r->store, r->pos, verb);
    int64_t deadline = nats_Now() + timeout_ms;
    int64_t wait = 100;
    if (retries != NULL)
        *retries = 0;
    for (;;) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 2000;
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_Publish(&ack, r->js, subject, json, (int) strlen(json), &po, &jerr);
        if (s == NATS_OK) {
            if (seq != NULL)
                *seq = ack->Sequence;
            jsPubAck_Destroy(ack);
            return NATS_OK;
        }
        if (nats_Now() + wait > deadline)
            return s;
        if (retries != NULL)
            (*retries)++;
        if (r->on_retry != NULL)
            r->on_retry(retries != NULL ? *retries : 0, s, r->on_retry_closure);
        nats_Sleep(wait);
        wait = wait * 2 > 2000 ? 2000 : wait * 2;
    }
}

natsStatus pa_sale(pa_register *r, const char *sale_id, const char *amount, int64_t timeout_ms, uint64_t *seq, int *retries)
{
    char json[256];
    snprintf(json, sizeof json, "{\"sale_id\":\"%s\",\"total_amount\":\"%s\"}", sale_id, amount);
    return pa_send(r, "sale", json, timeout_ms, seq, retries);
}

natsStatus pa_cancel(pa_register *r, const char *sale_id, int64_t timeout_ms, uint64_t *seq, int *retries)
{
    char json[128];
    snprintf(json, sizeof json, "{\"sale_id\":\"%s\"}", sale_id);
    return pa_send(r, "cancel", json, timeout_ms, seq, retries);
}

static bool listed(const char *until, const char *status)
{
    size_t n = strlen(status);
    for (const char *p = until; (p = strstr(p, status)) != NULL; p += n)
        if ((p == until || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* next_msg takes one message from the live subscription or the stream. */
static natsMsg *next_msg(pa_register *r, bool *from_stream)
{
    natsMsg *m = NULL;
    if (r->reconnected || r->stream == NULL) {
        r->reconnected = 0;
        follow_stream(r);
    }
    if (natsSubscription_NextMsg(&m, r->live, 50) == NATS_OK) {
        *from_stream = false;
        return m;
    }
    if (r->stream != NULL) {
        natsStatus s = natsSubscription_NextMsg(&m, r->stream, 50);
        if (s == NATS_OK) {
            *from_stream = true;
            return m;
        }
        if (s != NATS_TIMEOUT)
            follow_stream(r); /* missed heartbeats, a reset server: resume */
    } else {
        nats_Sleep(50);
    }
    return NULL;
}

natsStatus pa_wait(pa_register *r, const char *sale_id, uint64_t seq, const char *until, int64_t timeout_ms, pa_event *ev)
{
    int64_t deadline = nats_Now() + timeout_ms;
    while (nats_Now() < deadline) {
        bool from_stream = false;
        natsMsg *m = next_msg(r, &from_stream);
        if (m == NULL)
            continue;
        if (from_stream) {
            jsMsgMetaData *meta = NULL;
            if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
                r->last_seq = meta->Sequence.Stream;
                jsMsgMetaData_Destroy(meta);
            }
        }
        const char *msg_id = NULL;
        natsMsgHeader_Get(m, "Nats-Msg-Id", &msg_id);
        free(r->json);
        r->json = strndup(natsMsg_GetData(m), (size_t) natsMsg_GetDataLength(m));
        char *id = msg_id ? strdup(msg_id) : NULL;
        natsMsg_Destroy(m);
        parse_event(r->json, id, ev);
        bool fresh = first_time(r, ev, id) || ev->replay;
        free(id);
        if (!fresh)
            continue;
        if (is_command_answer(ev) && seq != 0 && ev->command_seq == seq)
            return NATS_OK;
        if (strcmp(ev->sale_id, sale_id) == 0 && listed(until, ev->status))
            return NATS_OK;
    }
    return NATS_TIMEOUT;
}
