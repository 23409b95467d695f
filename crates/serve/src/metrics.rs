//! Prometheus text-format metrics (exposition format 0.0.4): requests by route and outcome,
//! a latency histogram per route, and the evaluation queue's depth and capacity.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The service's metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Evaluation jobs waiting for a worker.
    pub queue_depth: AtomicUsize,
    /// Evaluations running.
    pub evaluating: AtomicUsize,
    /// Queue capacity (constant).
    pub queue_capacity: usize,
    /// Worker threads (constant).
    pub workers: usize,
    /// Queued evaluations dropped unevaluated (caller gone or deadline passed).
    pub cancelled: AtomicUsize,
    /// Connections closed at once because the connection limit was reached.
    pub connections_refused: AtomicUsize,
    /// Open connections.
    pub connections: AtomicUsize,
    /// Key uploads refused from their first bytes (before the whole body arrived).
    pub uploads_refused_early: AtomicUsize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The outcome class of an HTTP status.
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        503 => "rejected",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

impl Metrics {
    /// Metrics for a pool of `workers` and a queue of `queue_capacity`.
    pub fn new(workers: usize, queue_capacity: usize) -> Self {
        Self {
            workers,
            queue_capacity,
            ..Self::default()
        }
    }

    /// Records one request on `route` with its final status and latency.
    pub fn record(&self, route: &str, status: u16, latency: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route.to_string(), outcome(status)))
            .or_default() += 1;
        let s = latency.as_secs_f64();
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = l.entry(route.to_string()).or_default();
        for (b, &le) in h.buckets.iter_mut().zip(&LATENCY_BUCKETS) {
            if s <= le {
                *b += 1;
            }
        }
        h.count += 1;
        h.sum += s;
    }

    /// Requests recorded for `route` with `outcome` (for tests and reports).
    pub fn requests(&self, route: &str, outcome: &str) -> u64 {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((r, o), _)| r == route && *o == outcome)
            .map(|(_, &c)| c)
            .sum()
    }

    /// The Prometheus text exposition; `keys` is the key store's (count, bytes).
    pub fn render(&self, keys: Option<(usize, u64)>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP henn_requests_total HTTP requests by route and outcome."
        );
        let _ = writeln!(out, "# TYPE henn_requests_total counter");
        for ((route, outcome), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "henn_requests_total{{route=\"{route}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP henn_request_duration_seconds Request latency by route."
        );
        let _ = writeln!(out, "# TYPE henn_request_duration_seconds histogram");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (b, le) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "henn_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {b}"
                );
            }
            let _ = writeln!(
                out,
                "henn_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "henn_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "henn_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let gauges = [
            (
                "henn_queue_depth",
                "Evaluation jobs waiting for a worker.",
                self.queue_depth.load(Ordering::Relaxed) as u64,
            ),
            (
                "henn_queue_capacity",
                "Capacity of the evaluation queue.",
                self.queue_capacity as u64,
            ),
            (
                "henn_evaluations_running",
                "Evaluations running.",
                self.evaluating.load(Ordering::Relaxed) as u64,
            ),
            (
                "henn_workers",
                "Evaluation worker threads.",
                self.workers as u64,
            ),
            (
                "henn_connections_open",
                "Open HTTP connections.",
                self.connections.load(Ordering::Relaxed) as u64,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "henn_evaluations_cancelled_total",
                "Queued evaluations dropped unevaluated (caller gone or deadline passed).",
                self.cancelled.load(Ordering::Relaxed) as u64,
            ),
            (
                "henn_connections_refused_total",
                "Connections closed at once at the connection limit.",
                self.connections_refused.load(Ordering::Relaxed) as u64,
            ),
            (
                "henn_key_uploads_refused_early_total",
                "Key uploads refused from their first bytes.",
                self.uploads_refused_early.load(Ordering::Relaxed) as u64,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        if let Some((count, bytes)) = keys {
            let _ = writeln!(out, "# HELP henn_keys_stored Live evaluation key sets.\n# TYPE henn_keys_stored gauge\nhenn_keys_stored {count}");
            let _ = writeln!(out, "# HELP henn_key_bytes_stored Bytes of live evaluation keys.\n# TYPE henn_key_bytes_stored gauge\nhenn_key_bytes_stored {bytes}");
        }
        out
    }
}
