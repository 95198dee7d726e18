#!/bin/sh
# The demo tour: every seed scenario of semantics.md section 11, each under a
# short heading; each program has its asyncio original beside it (.py).
set -e
dir=${1:-build/examples}
run() {
    printf '\n== %s ==\n' "$1"
    "$dir/$2"
}
run "1. gather two sleeping jobs (expect [1, 2] after ~2 s, not 3)" ex01_two_jobs
run "2. the same two as tasks under wait (expect 2 0)" ex02_wait
run "3. breakfast: coffee 2 s and toast 1 s, awaited in turn (~2.00 s)" ex03_breakfast
run "4. groups of 5, 3 and 9, gathered and nested; cancelling group 2" ex04_groups
run "5. ten random jobs: first completed, then a 2 s timeout, then the rest" ex05_ten
run "6. gather keeps input order, wait gives completion order" ex06_fetch
run "7. might_fail(2): gather raises, or lists it with return_exceptions" ex07_might_fail
run "8. FIRST_EXCEPTION stops at the failure; the rest is cancelled" ex08_first_exception
run "9. a 2 s deadline: fast done, slow cancelled and awaited" ex09_deadline
run "10. first response wins" ex10_first_wins
run "11. successes and failures apart, with gather and with wait" ex11_split
run "12. as_completed: results as they arrive, errors included" ex12_as_completed
run "13. the three exercises" ex13_exercises
run "14. a producer/consumer pipeline with a bounded queue" ex14_pipeline
run "15. a rate limiter: a semaphore lets three requests run at a time" ex15_rate_limit
run "16. a blocking call moved to a thread while the loop ticks on" ex16_to_thread
run "17. the asyncio docs' TCP echo server and client, on loopback" ex17_tcp_echo
run "18. the same over a Unix socket" ex18_unix_echo
run "19. a line-based chat server: readline, broadcast, drain" ex19_chat
run "20. a UDP echo server and client" ex20_udp_echo
run "21. names: localhost's addresses off the loop, a server on all of them, Happy Eyeballs" ex21_names

# 77: built without OpenSSL, or no openssl command to make the certificate
run "22. TLS: the TCP echo over TLS, with a self-signed certificate made for the run" ex22_tls_echo || [ $? = 77 ]
run "23. a command's output line by line, as it comes (create_subprocess_exec, readline)" ex23_command_lines
run "24. a pipeline of two processes: printf | sort -r, joined by a pipe" ex24_pipeline
run "25. graceful shutdown on SIGTERM: stop accepting, a deadline, then cancel (it signals itself)" ex25_graceful_shutdown
# The fetch scenarios of semantics.md section 12 for real: HTTP over
# loopback, libcurl inside corio tasks, each program serving itself.
if [ -x "$dir/ex26_fetch_all" ]; then
    run "26. fetch_all: gather keeps input order, wait gives completion order" ex26_fetch_all
    run "27. first response of three servers wins; the losers' downloads are cancelled" ex27_first_response
    run "28. a 1 s deadline keeps what arrived and cancels the slow transfers" ex28_fetch_with_deadline
    run "29. a refused port, a 404 and a reset apart from the good pages" ex29_fetch_errors
    run "30. as_completed over fetches: bodies and errors as they arrive" ex30_fetch_as_completed
    run "31. a crawler: 1 000 pages, 50 in flight, a timeout each, a progress line" ex31_crawler
else
    printf '\n== 26-31. the fetch scenarios over HTTP ==\n'
    echo "skipped: libcurl4-openssl-dev not installed (make deps)"
fi

printf '\n== 32. the TCP echo and the chat again, on io_uring (CORIO_BACKEND=io_uring) ==\n'
if CORIO_DEBUG=1 CORIO_BACKEND=io_uring "$dir/ex20_udp_echo" 2>&1 >/dev/null | grep -q "running on io_uring"; then
    CORIO_BACKEND=io_uring "$dir/ex17_tcp_echo"
    CORIO_BACKEND=io_uring "$dir/ex19_chat"
else
    echo "io_uring is not available here: make deps installs liburing-dev (and the kernel may refuse it); skipped"
fi
