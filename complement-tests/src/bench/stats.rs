//! Figures: latency samples turned into count, throughput and percentiles,
//! and the report that collects them.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// One reported figure: named numbers, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figure {
    pub fields: Vec<(String, f64)>,
}

impl Figure {
    /// count, duration_ms (wall time of the measured phase),
    /// throughput_per_s (completed requests per wall second), mean, p50, p90,
    /// p99 and max latency, the 429 retries and the failed requests of the
    /// measured phase. Fails when nothing succeeded.
    pub fn from_latencies(samples: &[Duration], wall: Duration, retries: u64, errors: u64) -> Result<Figure> {
        if samples.is_empty() {
            bail!("no request succeeded ({errors} failed)");
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let wall_ms = wall.as_secs_f64() * 1e3;
        let figure = Figure::default()
            .with("count", ms.len() as f64)
            .with("duration_ms", wall_ms)
            .with("throughput_per_s", ms.len() as f64 / wall.as_secs_f64().max(1e-9))
            .with("mean_ms", ms.iter().sum::<f64>() / ms.len() as f64)
            .with("p50_ms", percentile(&ms, 50.0))
            .with("p90_ms", percentile(&ms, 90.0))
            .with("p99_ms", percentile(&ms, 99.0))
            .with("max_ms", ms[ms.len() - 1])
            .with("retries_429", retries as f64)
            .with("errors", errors as f64);
        Ok(figure)
    }

    /// Adds (or replaces) a field.
    pub fn with(mut self, key: &str, value: f64) -> Figure {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: f64) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key.to_owned(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self.fields.iter().map(|(k, v)| (k.clone(), json_number(*v))).collect();
        Value::Object(map)
    }
}

/// Whole numbers as integers, the rest rounded to microsecond-ish precision.
fn json_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 { Value::from(v as i64) } else { Value::from((v * 1e4).round() / 1e4) }
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// All figures of a run, by name, in the order they were measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub figures: Vec<(String, Figure)>,
}

impl Report {
    pub fn add(&mut self, name: &str, figure: Figure) {
        self.figures.push((name.to_owned(), figure));
    }

    pub fn extend(&mut self, other: Report) {
        self.figures.extend(other.figures);
    }

    pub fn get(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// `{figure: {field: number, ...}, ...}`.
    pub fn to_json(&self) -> Value {
        Value::Object(self.figures.iter().map(|(n, f)| (n.clone(), f.to_json())).collect())
    }

    /// One line per figure, for people.
    pub fn to_text(&self) -> String {
        let width = self.figures.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, figure) in &self.figures {
            let _ = write!(out, "{name:width$}");
            for (key, value) in &figure.fields {
                let _ = write!(out, "  {key}={}", json_number(*value));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn a_figure_has_throughput_and_percentiles() {
        let samples = vec![Duration::from_millis(2); 10];
        let f = Figure::from_latencies(&samples, Duration::from_millis(20), 1, 0).unwrap();
        assert_eq!(f.get("count"), Some(10.0));
        assert_eq!(f.get("throughput_per_s"), Some(500.0));
        assert_eq!(f.get("p99_ms"), Some(2.0));
        assert!(Figure::from_latencies(&[], Duration::from_millis(1), 0, 3).is_err());
    }
}
