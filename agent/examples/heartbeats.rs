//! Load generator for `bench/heartbeats.sh` and `bench/scale.sh`: N simulated agents, each with
//! its own ed25519 key (enrolled by writing the agents table of the running baas' database, as an
//! enrolment would), each sending a signed heartbeat with a hardware report every INTERVAL
//! seconds, spread evenly. Several baas URLs (comma-separated: instances of one lab) take turns.
//! Prints requests, errors and latency percentiles (ms).
//!
//!   heartbeats <baas url[,url…]> <database url> <agents> <interval s> <duration s>

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use lab::agent_protocol::{authorization, new_key, Disk, HardwareReport, Heartbeat, Nic};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, urls, database, agents, interval, duration] = &args[..] else {
        eprintln!(
            "usage: heartbeats <baas url[,url…]> <database url> <agents> <interval s> <duration s>"
        );
        std::process::exit(2);
    };
    let agents: usize = agents.parse().expect("agents");
    let interval = Duration::from_secs(interval.parse().expect("interval"));
    let duration = Duration::from_secs(duration.parse().expect("duration"));

    let keys: Vec<SigningKey> = (0..agents).map(|_| new_key()).collect();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database).await.expect("database");
    let mut tx = pool.begin().await.expect("transaction");
    for (i, key) in keys.iter().enumerate() {
        sqlx::query(
            "INSERT INTO agents (public_key, mac, enrolled_at, last_seen) VALUES ($1, $2, 0, 0)",
        )
        .bind(hex::encode(key.verifying_key().as_bytes()))
        .bind(format!(
            "02:00:00:{:02x}:{:02x}:{:02x}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        ))
        .execute(&mut *tx)
        .await
        .expect("seeding agents");
    }
    tx.commit().await.expect("commit");
    pool.close().await;

    let report = HardwareReport {
        cpu_model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz".into(),
        cpu_count: 64,
        memory_bytes: 256 << 30,
        firmware: "uefi".into(),
        vendor: "Vendor".into(),
        product: "Server 1U".into(),
        serial: "SN123456".into(),
        disks: (0..4)
            .map(|i| Disk {
                path: format!("/dev/nvme{i}n1"),
                size_bytes: 3_840_000_000_000,
                model: "NVMe SSD".into(),
                serial: format!("S{i}"),
                ..Default::default()
            })
            .collect(),
        nics: (0..2)
            .map(|i| Nic {
                name: format!("eno{i}"),
                mac: format!("0c:00:00:00:00:0{i}"),
                driver: "ice".into(),
                link: true,
                speed_mbps: 25_000,
            })
            .collect(),
    };
    let body = serde_json::to_vec(&Heartbeat { hardware: report }).expect("json");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let started = Instant::now();
    let spacing = interval / agents as u32;
    let (sender, mut results) = tokio::sync::mpsc::unbounded_channel::<Result<Duration, String>>();
    let urls: Vec<String> = urls
        .split(',')
        .map(|url| format!("{}/agent/v1/heartbeat", url.trim_end_matches('/')))
        .collect();
    let mut beat = 0u64;
    let ticker = async {
        loop {
            let due = spacing * beat as u32;
            if due > duration {
                break;
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + due)).await;
            let key = keys[(beat as usize) % agents].clone();
            let url = urls[(beat as usize) % urls.len()].clone();
            let (client, body, sender) = (client.clone(), body.clone(), sender.clone());
            tokio::spawn(async move {
                let auth = authorization(&key, "POST", "/agent/v1/heartbeat", &body);
                let sent = Instant::now();
                let answer = client
                    .post(&url)
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let result = match answer {
                    Ok(r) if r.status().as_u16() == 204 => Ok(sent.elapsed()),
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                let _ = sender.send(result);
            });
            beat += 1;
        }
    };
    ticker.await;
    drop(sender);
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while let Some(result) = results.recv().await {
        match result {
            Ok(latency) => latencies.push(latency.as_secs_f64() * 1000.0),
            Err(e) => errors.push(e),
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{} heartbeats from {agents} agents in {:.0} s ({:.0}/s): {} errors; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        latencies.len() + errors.len(),
        started.elapsed().as_secs_f64(),
        (latencies.len() + errors.len()) as f64 / started.elapsed().as_secs_f64(),
        errors.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    if let Some(first) = errors.first() {
        println!("first error: {first}");
    }
}
