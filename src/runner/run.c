/* asyncio.run: a main task, then the clean-up of what it left behind. On
 * the public loop API, but for one internal step (a shutdown run that
 * gives up when nothing could ever finish), and SIGINT as asyncio.Runner
 * takes it (3.11+). */
#define _GNU_SOURCE
#include "core/contract.h"
#include "signal/signal.h"

#include <signal.h>

/* asyncio's _cancel_all_tasks: cancel every task left, run the loop until
 * they are all done, report the ones that failed with something other
 * than the cancel. A task that waits on nothing at all (no timer, no I/O,
 * no thread) is left for close to report. */
static void cancel_remaining(corio_loop *loop) {
    size_t n = corio_all_tasks(loop, NULL, 0);
    if (n == 0) return;
    corio_task **left = corio__calloc(n, sizeof *left);
    if (!left) return; /* no memory to gather them: close reports and destroys them */
    n = corio_all_tasks(loop, left, n);
    for (size_t i = 0; i < n; i++) {
        corio_future_ref(left[i]);
        corio_task_cancel(left[i], NULL);
    }
    corio_future *g = NULL;
    if (corio_gather_tasks(left, n, CORIO_RETURN_EXCEPTIONS, &g) == 0) {
        (void)corio__run_until_done_or_idle(loop, g);
        corio_future_unref(g);
    }
    for (size_t i = 0; i < n; i++) {
        corio_error *err = NULL;
        if (corio_future_done(left[i]) && !corio_future_cancelled(left[i]) &&
            corio_future_exception(left[i], &err) == 0 && err)
            corio_loop_call_exception_handler(loop, "unhandled error during corio_run() shutdown",
                                              left[i], err);
        corio_error_unref(err);
        corio_future_unref(left[i]);
    }
    corio__free(left);
}

/* asyncio.Runner._on_sigint, run on the loop: the first SIGINT cancels
 * the main task, which may catch it and clean up; another one (or one
 * after the main task is done) stops the loop, where Python would raise
 * KeyboardInterrupt out of it. */
typedef struct sigint_state {
    corio_loop *loop;       /* borrowed */
    corio_task *main_task;  /* borrowed (run_main holds a reference) */
    int count;              /* SIGINTs seen */
    int stopped;            /* the loop was stopped for one */
    int over;               /* the main run is over: a call still queued only says it came */
} sigint_state;

static void on_sigint(void *arg) {
    sigint_state *st = arg;
    if (st->over) { /* Python raises KeyboardInterrupt out of the clean-up */
        st->stopped = 1;
        return;
    }
    if (++st->count == 1 && !corio_future_done(st->main_task)) {
        corio_task_cancel(st->main_task, NULL);
        return;
    }
    st->stopped = 1;
    corio_loop_stop(st->loop);
}

int corio_loop_run_main(corio_loop *loop, corio_fn fn, void *arg, void **result) {
    if (!loop || !fn) return CORIO_EINVAL;
    if (corio_loop_is_closed(loop)) return CORIO_ECLOSED;
    if (corio_get_running_loop()) return CORIO_ERUNNING;
    corio_task *main_task;
    int rc = corio_loop_create_task(loop, fn, arg, NULL, 0, &main_task);
    if (rc == 0) {
        sigint_state st = {loop, main_task, 0, 0, 0};
        int took = corio__signal_take_sigint(loop, on_sigint, &st);
        /* The result is taken at the end, only if the run succeeds: one
         * that a Ctrl-C turns into CORIO_EINTERRUPTED stays with the task
         * and its release runs (asyncio.run drops main()'s value). */
        rc = corio_loop_run_until_complete(loop, main_task, NULL);
        /* SIGINT's disposition comes back before the clean-up, as the
         * Runner restores default_int_handler before closing. */
        /* A SIGINT that came as the main run ended (the loop never took
         * it, or its call is still queued) is one after the main task is
         * done: Python's _on_sigint raises KeyboardInterrupt for it. */
        if (took > 0 && corio__signal_drop_if(loop, SIGINT, on_sigint, &st)) st.stopped = 1;
        st.over = 1;
        if (st.stopped)
            rc = CORIO_EINTERRUPTED;
        else if (rc == CORIO_ECANCELED && st.count > 0 && corio_task_uncancel(main_task) == 0)
            rc = CORIO_EINTERRUPTED; /* cancelled by the SIGINT, not by someone else too */
        cancel_remaining(loop);
        if (st.stopped) rc = CORIO_EINTERRUPTED;
        if (rc >= 0 && result) rc = corio_future_result(main_task, result);
        corio_future_unref(main_task);
    }
    corio_loop_close(loop);
    return rc;
}

int corio_run(corio_fn fn, void *arg, void **result) {
    if (!fn) return CORIO_EINVAL;
    if (corio_get_running_loop()) return CORIO_ERUNNING;
    corio_loop *loop;
    int rc = corio_loop_new(&loop);
    if (rc < 0) return rc;
    rc = corio_loop_run_main(loop, fn, arg, result);
    corio_loop_free(loop);
    return rc;
}
