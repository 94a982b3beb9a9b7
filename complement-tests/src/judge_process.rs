//! A judge that runs as a child process and reports what it sees as one
//! JSON object per stdout line (e.g. `judges/livekit_rtc.py`). Its lines are
//! read as they come and each is stamped with the instant it was read, so a
//! scenario can wait for one while the judge keeps running, and afterwards
//! ask when things happened.
//!
//! The process is killed (SIGKILL, by its own handle) when this is dropped,
//! on every path; when dropped during a panic, its last lines of stdout and
//! stderr are printed, so a failed wait shows what the judge saw.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How many of a judge's last lines (of each stream) a failure shows.
const TAIL_LINES: usize = 20;
/// How long a judge whose stdout has ended may take to exit.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// One line of a judge's stdout.
#[derive(Clone, Debug)]
pub struct JudgeLine {
    /// When the line was read. The judge flushes each line as it happens,
    /// so this is when it happened, on the scenario's clock.
    pub read_at: Instant,
    /// The line as JSON; a line that is not JSON is kept as a JSON string.
    pub json: Value,
}

/// Everything read from the judge's stdout so far.
#[derive(Default)]
struct Stdout {
    lines: Vec<JudgeLine>,
    /// The judge closed its stdout (it exited, or is exiting).
    ended: bool,
}

/// A running judge and what it has reported.
pub struct JudgeProcess {
    /// Names the judge in failures (e.g. the participant it plays).
    label: String,
    child: Child,
    stdout: watch::Receiver<Stdout>,
    /// The last [`TAIL_LINES`] lines of its stderr (its libraries' logs).
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl JudgeProcess {
    /// Starts `command` with stdin closed and stdout and stderr read by
    /// this process. Must be called within a Tokio runtime.
    pub fn spawn(label: impl Into<String>, mut command: Command) -> JudgeProcess {
        let label = label.into();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start the judge {label}: {e}"));

        let (sender, stdout) = watch::channel(Stdout::default());
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let read_at = Instant::now();
                let json = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sender.send_modify(|out| out.lines.push(JudgeLine { read_at, json }));
            }
            sender.send_modify(|out| out.ended = true);
        });

        let stderr = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let kept = Arc::clone(&stderr);
        let mut errors = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                if kept.len() == TAIL_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });

        JudgeProcess { label, child, stdout, stderr }
    }

    /// The first line since the judge started for which `matches` holds,
    /// waiting up to `timeout` for it (a zero timeout still finds a line
    /// already read). Panics, naming `what`, if none comes in time or the
    /// judge's stdout ends first.
    pub async fn wait_for(&mut self, what: &str, timeout: Duration, matches: impl Fn(&Value) -> bool) -> JudgeLine {
        let mut stdout = self.stdout.clone();
        let search = async {
            loop {
                {
                    let seen = stdout.borrow_and_update();
                    if let Some(line) = seen.lines.iter().find(|line| matches(&line.json)) {
                        return Some(line.clone());
                    }
                    if seen.ended {
                        return None;
                    }
                }
                // An error means no line can come any more: the reader
                // has gone, and what it left was searched just above.
                if stdout.changed().await.is_err() {
                    return None;
                }
            }
        };
        match tokio::time::timeout(timeout, search).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                let status = self.exit_status().await;
                panic!("the judge {} ended ({status}) before {what}; its output is printed below", self.label)
            }
            Err(_) => {
                panic!("the judge {} reported no {what} within {timeout:?}; its output is printed below", self.label)
            }
        }
    }

    /// Every line read so far, in order.
    pub fn lines(&self) -> Vec<JudgeLine> {
        self.stdout.borrow().lines.clone()
    }

    /// Kills the judge with SIGKILL: it vanishes without a word, as a
    /// crashed client or a dropped laptop does.
    pub fn sigkill(&mut self) {
        self.child.start_kill().unwrap_or_else(|e| panic!("failed to kill the judge {}: {e}", self.label));
    }

    /// Waits up to `timeout` for a judge that ends by itself to exit, and
    /// how it exited. Panics if it is still running then.
    pub async fn exited(&mut self, timeout: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("failed to wait for the judge {}: {e}", self.label),
            Err(_) => panic!("the judge {} was still running {timeout:?} after it should have ended", self.label),
        }
    }

    /// How the judge exited, once its stdout has ended.
    async fn exit_status(&mut self) -> String {
        match tokio::time::timeout(EXIT_WAIT, self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("exit status unknown: {e}"),
            Err(_) => format!("stdout closed, still running after {EXIT_WAIT:?}"),
        }
    }

    fn output_banner(&self) -> String {
        let lines = self.lines();
        let stdout: Vec<String> =
            lines[lines.len().saturating_sub(TAIL_LINES)..].iter().map(|line| line.json.to_string()).collect();
        let stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let stderr: Vec<&str> = stderr.iter().map(String::as_str).collect();
        format!(
            "----- judge {label}: last {shown} of {total} stdout lines -----\n{stdout}\n\
             ----- judge {label}: last {errors} stderr lines -----\n{stderr}\n\
             ----- end of judge {label} -----",
            label = self.label,
            shown = stdout.len(),
            total = lines.len(),
            stdout = stdout.join("\n"),
            errors = stderr.len(),
            stderr = stderr.join("\n"),
        )
    }
}

impl Drop for JudgeProcess {
    fn drop(&mut self) {
        // The process itself is killed by `kill_on_drop`.
        if std::thread::panicking() {
            eprintln!("{}", self.output_banner());
        }
    }
}
