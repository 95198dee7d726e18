/* The timer structure (buckets, soon heap, far heap) against the model: a
 * timer fires after every armed timer with an earlier deadline, or the same
 * deadline armed before it; a cancelled one never fires. Timers are armed
 * at moving times, near and far (beyond the buckets' reach), with many
 * equal deadlines, and cancelled wherever they are. */
#include "test.h"

enum { MAX = 20000 };

typedef struct rec {
    corio_handle *h;
    double when;
    long seq;   /* arming order */
    int state;  /* 0 armed, 1 fired, 2 cancelled */
} rec;

static rec recs[MAX];
static long narmed, nfired;
static double last_when;
static long last_seq;
static corio_loop *loop;
static unsigned seed = 7;

static unsigned rnd(void) { return (seed = seed * 1103515245u + 12345u) >> 8; }

static void fired(void *arg) {
    rec *r = arg;
    ASSERT_EQ(r->state, 0);
    /* Never early by more than the clock's resolution (1 ns, as CPython). */
    ASSERT(r->when < corio_loop_time(loop) + 1e-9);
    /* Exact order: (when, seq) never goes backwards. */
    ASSERT(r->when > last_when || (r->when == last_when && r->seq > last_seq));
    last_when = r->when;
    last_seq = r->seq;
    r->state = 1;
    nfired++;
}

static void step(void *arg) {
    (void)arg;
    double now = corio_loop_time(loop);
    for (int k = 0; k < 40 && narmed < MAX; k++) {
        rec *r = &recs[narmed];
        unsigned kind = rnd() % 4;
        double d = kind == 0 ? (rnd() % 8) * 0.25                 /* ties */
                   : kind == 1 ? (rnd() % 4000) / 1000.0          /* near */
                   : kind == 2 ? 5 + (rnd() % 20000) / 1000.0     /* far */
                               : (rnd() % 3) * 4.25;              /* near/far edge, ties */
        r->when = now + d;
        r->seq = narmed;
        ASSERT_EQ(corio_call_at(loop, r->when, fired, r, &r->h), 0);
        r->when = corio_handle_when(r->h); /* the loop's own (integer ns) deadline */
        narmed++;
    }
    for (int k = 0; k < 10 && narmed > 0; k++) { /* cancel some, wherever they are */
        rec *r = &recs[rnd() % narmed];
        if (r->state == 0) {
            ASSERT_EQ(corio_handle_cancel(r->h), 0);
            r->state = 2;
        }
    }
    if (narmed < MAX) ASSERT_EQ(corio_call_later(loop, (rnd() % 600) / 100.0, step, NULL, NULL), 0);
}

TEST(timers_random_order) {
    loop = vloop();
    last_when = -1;
    last_seq = -1;
    ASSERT_EQ(corio_call_soon(loop, step, NULL, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK); /* all done */
    long cancelled = 0;
    for (long i = 0; i < narmed; i++) {
        ASSERT(recs[i].state != 0); /* every armed timer fired or was cancelled */
        if (recs[i].state == 2) cancelled++;
        corio_handle_unref(recs[i].h);
    }
    ASSERT_EQ(nfired + cancelled, narmed);
    ASSERT(nfired > MAX / 2);
    close_loop(loop);
    return 0;
}
