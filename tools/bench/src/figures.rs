//! The figures of one function under one runtime, and the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{Function, Runtime};

#[derive(Default, Clone)]
pub struct Figures {
    /// Process start to its first `next` call.
    pub cold_start: Vec<Duration>,
    /// First event handed over to its answer.
    pub first_invocation: Vec<Duration>,
    /// Warm events handed over to their answers.
    pub warm: Vec<Duration>,
    /// The function process's own CPU time per warm call (user + system),
    /// which excludes the emulator's and this harness's time.
    pub cpu_per_call: Duration,
    /// The DynamoDB engine's CPU time per warm call (DynamoDB Local's
    /// process), when its pid is known: where the rest of the time goes.
    pub engine_cpu_per_call: Option<Duration>,
    pub peak_rss_kb: u64,
    pub artifact_bytes: u64,
    pub requests_per_call: f64,
    pub first_requests: u64,
    pub request_kinds: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(v: &[Duration]) -> Vec<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v
}

pub fn percentile(v: &[Duration], p: f64) -> Duration {
    let v = sorted(v);
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

/// (median, min, max) in ms.
fn spread(v: &[Duration]) -> (f64, f64, f64) {
    let s = sorted(v);
    match (s.first(), s.last()) {
        (Some(min), Some(max)) => (ms(percentile(v, 50.0)), ms(*min), ms(*max)),
        _ => (0.0, 0.0, 0.0),
    }
}

impl Figures {
    fn json(&self) -> Value {
        let (cold, cold_min, cold_max) = spread(&self.cold_start);
        let (first, first_min, first_max) = spread(&self.first_invocation);
        json!({
            "cold_start_ms": {"median": cold, "min": cold_min, "max": cold_max, "runs": self.cold_start.len()},
            "first_invocation_ms": {"median": first, "min": first_min, "max": first_max},
            "warm_ms": {"p50": ms(percentile(&self.warm, 50.0)), "p99": ms(percentile(&self.warm, 99.0)),
                        "min": ms(sorted(&self.warm).first().copied().unwrap_or_default()),
                        "max": ms(sorted(&self.warm).last().copied().unwrap_or_default()), "n": self.warm.len()},
            "cpu_per_call_us": self.cpu_per_call.as_secs_f64() * 1e6,
            "engine_cpu_per_call_us": self.engine_cpu_per_call.map(|d| d.as_secs_f64() * 1e6),
            "peak_rss_mb": self.peak_rss_kb as f64 / 1024.0,
            "artifact_bytes": self.artifact_bytes,
            "requests_per_call": self.requests_per_call,
            "first_call_requests": self.first_requests,
            "request_kinds": self.request_kinds,
        })
    }
}

/// One row of the table: a figure's value (for the ratio) and its text.
type FigureFn = Box<dyn Fn(&Figures) -> (f64, String)>;

#[derive(Default)]
pub struct Report {
    pub functions: BTreeMap<&'static str, BTreeMap<String, Figures>>,
    pub scaling: Option<Value>,
    pub capacity: Option<Value>,
}

impl Report {
    pub fn add(&mut self, function: &'static str, runtime: Runtime, figures: Figures) {
        self.functions.entry(function).or_default().insert(format!("{runtime:?}").to_lowercase(), figures);
    }

    pub fn json(&self) -> Value {
        let functions: serde_json::Map<String, Value> = self
            .functions
            .iter()
            .map(|(f, by)| {
                ((*f).to_owned(), Value::Object(by.iter().map(|(r, fig)| (r.clone(), fig.json())).collect()))
            })
            .collect();
        json!({"functions": functions, "scaling": self.scaling, "capacity": self.capacity})
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| function | figure | Rust | Python baseline | Rust / baseline |\n| --- | --- | ---: | ---: | ---: |\n",
        );
        for (function, by) in &self.functions {
            let (Some(rust), python) = (by.get("rust"), by.get("python")) else { continue };
            let rows: Vec<(&str, FigureFn)> = vec![
                (
                    "cold start, ms (median [min-max])",
                    Box::new(|f| {
                        let (m, lo, hi) = spread(&f.cold_start);
                        (m, format!("{m:.1} [{lo:.1}-{hi:.1}]"))
                    }),
                ),
                (
                    "first invocation, ms",
                    Box::new(|f| {
                        let (m, lo, hi) = spread(&f.first_invocation);
                        (m, format!("{m:.2} [{lo:.2}-{hi:.2}]"))
                    }),
                ),
                (
                    "warm p50, ms",
                    Box::new(|f| {
                        let v = ms(percentile(&f.warm, 50.0));
                        (v, format!("{v:.2}"))
                    }),
                ),
                (
                    "warm p99, ms",
                    Box::new(|f| {
                        let v = ms(percentile(&f.warm, 99.0));
                        (v, format!("{v:.2}"))
                    }),
                ),
                (
                    "CPU per warm call (function only), µs",
                    Box::new(|f| {
                        let v = f.cpu_per_call.as_secs_f64() * 1e6;
                        (v, format!("{v:.0}"))
                    }),
                ),
                (
                    "DynamoDB Local CPU per warm call, µs",
                    Box::new(|f| match f.engine_cpu_per_call {
                        Some(d) => (d.as_secs_f64() * 1e6, format!("{:.0}", d.as_secs_f64() * 1e6)),
                        None => (0.0, "-".into()),
                    }),
                ),
                (
                    "peak RSS, MB",
                    Box::new(|f| {
                        let v = f.peak_rss_kb as f64 / 1024.0;
                        (v, format!("{v:.1}"))
                    }),
                ),
                (
                    "artifact, KB",
                    Box::new(|f| {
                        let v = f.artifact_bytes as f64 / 1024.0;
                        (v, format!("{v:.0}"))
                    }),
                ),
                (
                    "DynamoDB requests per warm call",
                    Box::new(|f| (f.requests_per_call, format!("{:.2}", f.requests_per_call))),
                ),
                (
                    "DynamoDB requests, first call",
                    Box::new(|f| (f.first_requests as f64, f.first_requests.to_string())),
                ),
            ];
            for (name, figure) in rows {
                let (r, rs) = figure(rust);
                let (ps, ratio) = match python {
                    Some(p) => {
                        let (pv, ptext) = figure(p);
                        let ratio = if pv > 0.0 { format!("{:.2}", r / pv) } else { "-".into() };
                        (ptext, ratio)
                    }
                    None => ("-".into(), "-".into()),
                };
                out.push_str(&format!("| {function} | {name} | {rs} | {ps} | {ratio} |\n"));
            }
        }
        if let Some(capacity) = &self.capacity {
            out.push_str(&crate::capacity::markdown(capacity));
        }
        if let Some(scaling) = &self.scaling {
            out.push_str(&crate::scaling::markdown(scaling));
        }
        if self.functions.is_empty() && self.scaling.is_none() {
            out.push_str("(nothing measured)\n");
        }
        out
    }
}

/// utime + stime of a process (all its threads), from /proc/<pid>/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // The command name may contain spaces: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After ')': state is field 3 of the whole line, so utime (14) is index 11, stime (15) index 12.
    let total = ticks(11) + ticks(12);
    // Linux reports in clock ticks of 1/100 s on every platform this runs on.
    Duration::from_millis(total * 10)
}

/// Peak resident set (VmHWM), in kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The deployable artifact: the function's Lambda zip (scripts/build-functions,
/// arm64); for Python the handler zipped (boto3 ships with the Python runtime).
pub fn artifact_bytes(root: &Path, function: &Function, runtime: Runtime) -> u64 {
    match runtime {
        Runtime::Rust => std::fs::metadata(root.join("target/lambda").join(function.name).join("bootstrap.zip"))
            .map(|m| m.len())
            .unwrap_or(0),
        Runtime::Python => std::process::Command::new(root.join(".venv/bin/python"))
            .args([
                "-c",
                "import io,zipfile;b=io.BytesIO();z=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED);z.write('handlers.py');z.close();print(len(b.getvalue()))",
            ])
            .current_dir(root.join("tools/bench/baseline"))
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
    }
}
