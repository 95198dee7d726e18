// The benchmark workloads in Go: goroutines, WaitGroup, channels, timers.
// Usage: go_bench NAME N. Prints the check line; exits 1 on a wrong answer.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func spawnGather(n int) (string, bool) {
	res := make([]int, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) { res[i] = i; wg.Done() }(i)
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	sum := 0
	for _, v := range res {
		sum += v
	}
	return fmt.Sprintf("spawn_gather n=%d sum=%d secs=%.6f", n, sum, secs), sum == n*(n-1)/2
}

func sleepers(n int) (string, bool) {
	var wg sync.WaitGroup
	var woke int64
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { time.Sleep(time.Second); atomic.AddInt64(&woke, 1); wg.Done() }()
	}
	wg.Wait()
	sum := atomic.LoadInt64(&woke)
	return fmt.Sprintf("sleepers n=%d mode=default sum=%d secs=%.6f", n, sum, time.Since(t0).Seconds()), sum == int64(n)
}

func pingpong(n int) (string, bool) {
	ping, pong := make(chan int), make(chan int)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	last := 0
	for i := 0; i < n; i++ {
		ping <- i
		last = <-pong
	}
	return fmt.Sprintf("pingpong n=%d last=%d handoffs=%d secs=%.6f", n, last, 2*n, time.Since(t0).Seconds()), last == n-1
}

func yield(n int) (string, bool) {
	var wg sync.WaitGroup
	var switches int64
	t0 := time.Now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			i := 0
			for ; i < n; i++ {
				runtime.Gosched()
			}
			atomic.AddInt64(&switches, int64(i))
			wg.Done()
		}()
	}
	wg.Wait()
	return fmt.Sprintf("yield n=%d switches=%d secs=%.6f", n, switches, time.Since(t0).Seconds()), switches == int64(2*n)
}

func waitLoop(n int) (string, bool) {
	done := make(chan int, 1024)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func(i int) {
			time.Sleep(time.Duration(float64(i) / float64(n) * float64(time.Second)))
			done <- i
		}(i)
	}
	sum := 0
	for i := 0; i < n; i++ {
		sum += <-done
	}
	wall := time.Since(t0).Seconds()
	return fmt.Sprintf("wait_loop n=%d style=chan sum=%d rounds=%d secs=%.6f", n, sum, n, wall-1.0), sum == n*(n-1)/2
}

// timers: deadlines LEAD + a spread over 1 s (bench/timers.c says why):
// AfterFunc's timers fire on the runtime's other threads, so a deadline
// reached while the rest are armed would fire during the measurement.
func timers(n int) (string, bool) {
	var fired int64
	ts := make([]*time.Timer, n)
	lead := time.Duration((0.25 + 5e-6*float64(n)) * float64(time.Second))
	t0 := time.Now()
	for i := 0; i < n; i++ {
		d := lead + time.Duration(float64((i*7919)%n)/float64(n)*float64(time.Second))
		ts[i] = time.AfterFunc(d, func() { atomic.AddInt64(&fired, 1) })
	}
	t1 := time.Now()
	stopped := 0
	for i := 0; i < n; i += 2 {
		if ts[i].Stop() {
			stopped++
		}
	}
	t2 := time.Now()
	inLead := t2.Sub(t0) < lead
	// Each callback runs on a goroutine of its own, some time after its
	// deadline: wait for the count, up to 5 s after the last deadline.
	cancelled := (n + 1) / 2
	time.Sleep(time.Until(t0.Add(lead + time.Second)))
	for giveUp := t0.Add(lead + 6*time.Second); atomic.LoadInt64(&fired) < int64(n-cancelled) && time.Now().Before(giveUp); {
		time.Sleep(10 * time.Millisecond)
	}
	got := atomic.LoadInt64(&fired)
	return fmt.Sprintf("timers n=%d fired=%d arm_ns=%.1f cancel_ns=%.1f armed_in_lead=%d secs=%.6f", n, got,
			float64(t1.Sub(t0).Nanoseconds())/float64(n), float64(t2.Sub(t1).Nanoseconds())/float64(cancelled),
			b2i(inLead), t1.Sub(t0).Seconds()),
		got == int64(n-cancelled) && stopped == cancelled && inLead
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func main() {
	workloads := map[string]func(int) (string, bool){"spawn_gather": spawnGather, "sleepers": sleepers,
		"pingpong": pingpong, "yield": yield, "wait_loop": waitLoop, "timers": timers}
	run, known := workloads[os.Args[1]]
	n, err := strconv.Atoi(os.Args[2])
	if !known || err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "usage: go_bench NAME N")
		os.Exit(2)
	}
	line, ok := run(n)
	fmt.Println(line)
	if !ok {
		// a wrong answer fails the run: it never passes for a fast one
		fmt.Fprintln(os.Stderr, "go_bench: wrong answer (see the check line)")
		os.Exit(1)
	}
}
