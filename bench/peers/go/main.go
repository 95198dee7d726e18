// The benchmark workloads in Go: goroutines, WaitGroup, channels.
//   go_bench NAME N [as_completed]
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

func spawnGather(n int) string {
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
	return fmt.Sprintf("spawn_gather n=%d sum=%d secs=%.6f", n, sum, secs)
}

func sleepers(n int) string {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { time.Sleep(time.Second); wg.Done() }()
	}
	wg.Wait()
	return fmt.Sprintf("sleepers n=%d mode=default sum=%d secs=%.6f", n, n, time.Since(t0).Seconds())
}

func pingpong(n int) string {
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
	return fmt.Sprintf("pingpong n=%d last=%d handoffs=%d secs=%.6f", n, last, 2*n, time.Since(t0).Seconds())
}

func yield(n int) string {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return fmt.Sprintf("yield n=%d switches=%d secs=%.6f", n, 2*n, time.Since(t0).Seconds())
}

func waitLoop(n int) string {
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
	return fmt.Sprintf("wait_loop n=%d style=chan sum=%d rounds=%d secs=%.6f", n, sum, n, wall-1.0)
}

func timers(n int) string {
	var fired int64
	ts := make([]*time.Timer, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		d := time.Duration(float64((i*7919)%n) / float64(n) * float64(time.Second))
		ts[i] = time.AfterFunc(d, func() { atomic.AddInt64(&fired, 1) })
	}
	t1 := time.Now()
	for i := 0; i < n; i += 2 {
		ts[i].Stop()
	}
	t2 := time.Now()
	time.Sleep(1050 * time.Millisecond)
	return fmt.Sprintf("timers n=%d fired=%d arm_ns=%.1f cancel_ns=%.1f secs=%.6f", n, atomic.LoadInt64(&fired),
		float64(t1.Sub(t0).Nanoseconds())/float64(n), float64(t2.Sub(t1).Nanoseconds())/float64((n+1)/2),
		t1.Sub(t0).Seconds())
}

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	var out string
	switch os.Args[1] {
	case "spawn_gather":
		out = spawnGather(n)
	case "sleepers":
		out = sleepers(n)
	case "pingpong":
		out = pingpong(n)
	case "yield":
		out = yield(n)
	case "wait_loop":
		out = waitLoop(n)
	case "timers":
		out = timers(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown workload")
		os.Exit(2)
	}
	fmt.Println(out)
}
