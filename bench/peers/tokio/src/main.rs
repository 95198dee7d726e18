//! The benchmark workloads on tokio: spawn + JoinHandle, mpsc, sleep, JoinSet.
//!   tokio_bench {ct|mt} NAME N
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

async fn spawn_gather(n: usize) -> String {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
    let mut sum = 0usize;
    for h in hs {
        sum += h.await.unwrap();
    }
    format!("spawn_gather n={} sum={} secs={:.6}", n, sum, t0.elapsed().as_secs_f64())
}

async fn sleepers(n: usize) -> String {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| tokio::spawn(async { tokio::time::sleep(Duration::from_secs(1)).await; 1usize }))
        .collect();
    let mut sum = 0;
    for h in hs {
        sum += h.await.unwrap();
    }
    format!("sleepers n={} mode=default sum={} secs={:.6}", n, sum, t0.elapsed().as_secs_f64())
}

async fn pingpong(n: usize) -> String {
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
    format!("pingpong n={} last={} handoffs={} secs={:.6}", n, last, 2 * n, t0.elapsed().as_secs_f64())
}

async fn yield_(n: usize) -> String {
    let t0 = Instant::now();
    let y = || tokio::spawn(async move { for _ in 0..n { tokio::task::yield_now().await; } });
    let (a, b) = (y(), y());
    a.await.unwrap();
    b.await.unwrap();
    format!("yield n={} switches={} secs={:.6}", n, 2 * n, t0.elapsed().as_secs_f64())
}

async fn wait_loop(n: usize) -> String {
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
    format!("wait_loop n={} style=joinset sum={} rounds={} secs={:.6}", n, sum, rounds, wall - 1.0)
}

async fn timers(n: usize) -> String {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let d = Duration::from_secs_f64(((i * 7919) % n) as f64 / n as f64);
            tokio::spawn(async move { tokio::time::sleep(d).await })
        })
        .collect();
    let t1 = Instant::now();
    for h in hs.iter().step_by(2) {
        h.abort();
    }
    let t2 = Instant::now();
    let mut fired = 0;
    for h in hs {
        if h.await.is_ok() {
            fired += 1;
        }
    }
    format!("timers n={} fired={} arm_ns={:.1} cancel_ns={:.1} secs={:.6}", n, fired,
        (t1 - t0).as_nanos() as f64 / n as f64, (t2 - t1).as_nanos() as f64 / ((n + 1) / 2) as f64,
        (t1 - t0).as_secs_f64())
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
    println!("{}", out);
}
