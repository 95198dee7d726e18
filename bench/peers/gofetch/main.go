// fetch_many N C URL with Go's net/http client (bench/fetch.py): C
// goroutines take the next index, GET URL/i, keep each body in input
// order; every body is checked. The Transport keeps up to C idle
// connections to the host (its default, 2, would reconnect all the time).
// Prints the check line with secs= (the fetching) and cpu= (this
// process's user+system CPU over it, getrusage).
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: gofetch N C URL")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[1])
	c, _ := strconv.Atoi(os.Args[2])
	base := os.Args[3]
	u, err := url.Parse(base)
	if err != nil || n <= 0 || c <= 0 {
		fmt.Fprintln(os.Stderr, "gofetch: bad arguments")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c}}
	bodies := make([]string, n)
	var next, failed int64 = -1, 0
	var wg sync.WaitGroup
	t0, c0 := time.Now(), cpu()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= n {
					return
				}
				resp, err := client.Get(base + "/" + strconv.Itoa(i))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					atomic.AddInt64(&failed, 1)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 {
					bodies[i] = string(b)
				}
			}
		}()
	}
	wg.Wait()
	secs, used := time.Since(t0).Seconds(), cpu()-c0
	ok := 0
	for i, b := range bodies {
		if b == u.Path+"/"+strconv.Itoa(i) {
			ok++
		}
	}
	fmt.Printf("fetch_many n=%d inflight=%d ok=%d cpu=%.4f secs=%.4f\n", n, c, ok, used, secs)
	if ok != n {
		os.Exit(1)
	}
}
