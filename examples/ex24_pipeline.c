/* A pipeline of two processes, as the shell's `printf ... | sort -r`: the
 * first one's stdout is the write end of a pipe whose read end is the
 * second one's stdin; the parent reads the second one's output.
 * ex24_pipeline.py is the original. */
#define _GNU_SOURCE
#include <corio.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;       /* os.pipe() (non-inheritable) */
    const char *printf_argv[] = {"printf", "cherry\\napple\\nbanana\\n", NULL};
    corio_process_options popts = {0};
    popts.stdout_mode = CORIO_STDIO_FD;                  /* stdout=write_end */
    popts.stdout_fd = fds[1];
    corio_process *producer = NULL, *consumer = NULL;
    int rc = corio_create_subprocess_exec(printf_argv, &popts, &producer);
    const char *sort_argv[] = {"sort", "-r", NULL};
    corio_process_options sopts = {0};
    sopts.stdin_mode = CORIO_STDIO_FD;                   /* stdin=read_end */
    sopts.stdin_fd = fds[0];
    sopts.stdout_mode = CORIO_STDIO_PIPE;                /* stdout=PIPE */
    if (rc == 0) rc = corio_create_subprocess_exec(sort_argv, &sopts, &consumer);
    close(fds[1]); /* the children hold their own copies */
    close(fds[0]);
    const void *out = NULL;
    size_t len = 0;
    if (rc == 0) rc = corio_process_communicate(consumer, NULL, 0, &out, &len, NULL, NULL);
    if (rc == 0) fwrite(out, 1, len, stdout);          /* print(line) for each line */
    int prc = 0, src = 0;
    if (rc == 0) rc = corio_process_wait(producer, &prc);
    if (rc == 0) rc = corio_process_returncode(consumer, &src);
    if (rc == 0) printf("printf exited with %d, sort with %d\n", prc, src);
    corio_process_free(producer);
    corio_process_free(consumer);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
