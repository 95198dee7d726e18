/* Run a command and read its output line by line, as it comes (asyncio's
 * subprocess docs: create_subprocess_exec with stdout=PIPE, readline).
 * ex23_command_lines.py is the original. */
#include <corio.h>

#include <stdio.h>

#define SCRIPT "for i in 1 2 3; do echo \"tick $i\"; sleep 0.1; done; echo done >&2; exit 3"

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    const char *argv[] = {"sh", "-c", SCRIPT, NULL};
    corio_process_options opts = {0};
    opts.stdout_mode = CORIO_STDIO_PIPE;                  /* stdout=PIPE */
    opts.stderr_mode = CORIO_STDIO_STDOUT;                /* stderr=STDOUT */
    corio_process *proc;
    int rc = corio_create_subprocess_exec(argv, &opts, &proc);
    if (rc < 0) return rc;
    corio_stream *out = corio_process_stdout(proc);
    int n = 0;
    for (;;) {
        const void *line;
        size_t len;
        if ((rc = corio_stream_readline(out, &line, &len)) < 0) break; /* await proc.stdout.readline() */
        if (len == 0) break;                                            /* EOF */
        while (len && (((const char *)line)[len - 1] == '\n' || ((const char *)line)[len - 1] == '\r'))
            len--;                                                      /* .rstrip() */
        printf("line %d: %.*s\n", ++n, (int)len, (const char *)line);
    }
    int returncode = 0;
    if (rc == 0) rc = corio_process_wait(proc, &returncode);         /* await proc.wait() */
    if (rc == 0) printf("[sh exited with %d]\n", returncode);
    corio_process_free(proc);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
