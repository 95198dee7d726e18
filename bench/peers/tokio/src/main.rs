//! The benchmark workloads on tokio: spawn + JoinHandle, mpsc, sleep, JoinSet,
//! timer registrations.
//!   tokio_bench {ct|mt} NAME N
//! Prints the check line; exits 1 on a wrong answer.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A check line and whether its answer is right.
type Outcome = (String, bool);

async fn spawn_gather(n: usize) -> Outcome {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
    let mut sum = 0usize;
    for h in hs {
        sum += h.await.unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    (format!("spawn_gather n={} sum={} secs={:.6}", n, sum, secs), sum == n * (n - 1) / 2)
}

async fn sleepers(n: usize) -> Outcome {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| tokio::spawn(async { tokio::time::sleep(Duration::from_secs(1)).await; 1usize }))
        .collect();
    let mut sum = 0;
    for h in hs {
        sum += h.await.unwrap();
    }
    (format!("sleepers n={} mode=default sum={} secs={:.6}", n, sum, t0.elapsed().as_secs_f64()), sum == n)
}

async fn pingpong(n: usize) -> Outcome {
    let (to_pong, mut pong_rx) = mpsc::channel::<usize>(1);
    let (to_ping, mut ping_rx) = mpsc::channel::<usize>(1);
    let t0 = Instant::now();
    let pong = tokio::spawn(async move {
        for _ in 0..n {
            let v = pong_rx.recv().await.unwrap();
            to_ping.send(v).await.unwrap();
        }
    });
    let mut last = 0;
    for i in 0..n {
        to_pong.send(i).await.unwrap();
        last = ping_rx.recv().await.unwrap();
    }
    pong.await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    (format!("pingpong n={} last={} handoffs={} secs={:.6}", n, last, 2 * n, secs), last == n - 1)
}

async fn yield_(n: usize) -> Outcome {
    let t0 = Instant::now();
    let y = || {
        tokio::spawn(async move {
            let mut made = 0;
            for _ in 0..n {
                tokio::task::yield_now().await;
                made += 1;
            }
            made
        })
    };
    let (a, b) = (y(), y());
    let switches = a.await.unwrap() + b.await.unwrap();
    (format!("yield n={} switches={} secs={:.6}", n, switches, t0.elapsed().as_secs_f64()), switches == 2 * n)
}

async fn wait_loop(n: usize) -> Outcome {
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(i as f64 / n as f64)).await;
            i
        });
    }
    let (mut sum, mut rounds) = (0usize, 0usize);
    while let Some(r) = set.join_next().await {
        sum += r.unwrap();
        rounds += 1;
    }
    let wall = t0.elapsed().as_secs_f64();
    (format!("wait_loop n={} style=joinset sum={} rounds={} secs={:.6}", n, sum, rounds, wall - 1.0), sum == n * (n - 1) / 2)
}

/// Counts the timers that fired: every registered Sleep holds this waker,
/// and the time driver wakes it once, when the Sleep's deadline passes.
struct Fired(AtomicUsize);

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// timers: a real timer per index, a `sleep_until` registered in the
/// runtime's timer wheel by its first poll; cancelling drops it, which
/// takes it out of the wheel. No task is spawned. Deadlines: LEAD + a
/// spread over 1 s (bench/timers.c says why).
async fn timers(n: usize) -> Outcome {
    let fired = Arc::new(Fired(AtomicUsize::new(0)));
    let waker = Waker::from(fired.clone());
    let lead = Duration::from_secs_f64(0.25 + 5e-6 * n as f64);
    let t0 = Instant::now();
    let base = tokio::time::Instant::now() + lead;
    // Unconstrained: tokio's cooperative budget would have a Sleep's poll
    // decline to register after the first 128 in one task poll.
    let (mut sleeps, t1, t2) = tokio::task::unconstrained(async {
        let mut cx = Context::from_waker(&waker);
        let mut sleeps: Vec<Option<Pin<Box<tokio::time::Sleep>>>> = Vec::with_capacity(n);
        for i in 0..n {
            let spread = Duration::from_secs_f64(((i * 7919) % n) as f64 / n as f64);
            let mut s = Box::pin(tokio::time::sleep_until(base + spread));
            let _ = s.as_mut().poll(&mut cx);
            sleeps.push(Some(s));
        }
        let t1 = Instant::now();
        for s in sleeps.iter_mut().step_by(2) {
            *s = None;
        }
        (sleeps, t1, Instant::now())
    })
    .await;
    let in_lead = t2 - t0 < lead;
    // On the multi-thread runtime the wakes come from the workers: wait for
    // the count, up to 5 s after the last deadline.
    let kept = n - (n + 1) / 2;
    tokio::time::sleep_until(base + Duration::from_secs(1)).await;
    let give_up = base + Duration::from_secs(6);
    while fired.0.load(Ordering::Relaxed) < kept && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = fired.0.load(Ordering::Relaxed);
    sleeps.clear();
    let line = format!(
        "timers n={} fired={} arm_ns={:.1} cancel_ns={:.1} armed_in_lead={} secs={:.6}",
        n,
        got,
        (t1 - t0).as_nanos() as f64 / n as f64,
        (t2 - t1).as_nanos() as f64 / ((n + 1) / 2) as f64,
        in_lead as i32,
        (t1 - t0).as_secs_f64()
    );
    (line, got == kept && in_lead)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = if args[1] == "mt" {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    };
    let n: usize = args[3].parse().unwrap();
    let out = rt.block_on(async move {
        match args[2].as_str() {
            "spawn_gather" => spawn_gather(n).await,
            "sleepers" => sleepers(n).await,
            "pingpong" => pingpong(n).await,
            "yield" => yield_(n).await,
            "wait_loop" => wait_loop(n).await,
            "timers" => timers(n).await,
            _ => panic!("unknown workload"),
        }
    });
    println!("{}", out.0);
    if !out.1 {
        eprintln!("tokio_bench: wrong answer (see the check line)");
        std::process::exit(1);
    }
}
