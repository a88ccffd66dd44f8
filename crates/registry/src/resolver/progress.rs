//! The stderr progress line shown while digests resolve.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A stderr progress line when resolution takes more than a second.
pub(super) struct Progress {
    /// Lookups finished (resolved or failed).
    pub(super) done: Arc<AtomicUsize>,
    /// Lookups that produced a digest.
    pub(super) resolved: Arc<AtomicUsize>,
    shown: Arc<AtomicBool>,
    total: usize,
    start: Instant,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub(super) fn start(total: usize, quiet: bool) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let shown = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let task = (!quiet).then(|| {
            let done = Arc::clone(&done);
            let shown = Arc::clone(&shown);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                loop {
                    eprintln!(
                        "chart-harden: resolving image digests: {}/{total} done ({:.1}s)",
                        done.load(Ordering::Relaxed),
                        start.elapsed().as_secs_f64()
                    );
                    shown.store(true, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            })
        });
        Progress {
            done,
            resolved: Arc::new(AtomicUsize::new(0)),
            shown,
            total,
            start,
            task,
        }
    }

    pub(super) fn finish(self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        if self.shown.load(Ordering::Relaxed) {
            eprintln!(
                "{}",
                finish_line(
                    self.resolved.load(Ordering::Relaxed),
                    self.done.load(Ordering::Relaxed),
                    self.total,
                    self.start.elapsed()
                )
            );
        }
    }
}

/// The last progress line: real counts, failures named as such.
fn finish_line(resolved: usize, done: usize, total: usize, took: Duration) -> String {
    let failed = done.saturating_sub(resolved) + total.saturating_sub(done);
    let mut s = format!(
        "chart-harden: resolved {resolved}/{total} image digests in {:.1}s",
        took.as_secs_f64()
    );
    if failed > 0 {
        s.push_str(&format!(" ({failed} failed)"));
    }
    s
}

impl Drop for Progress {
    /// Also stops the ticker when `resolve_all` is cancelled.
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_line_states_real_counts() {
        let t = Duration::from_millis(2500);
        assert_eq!(
            finish_line(0, 2, 2, t),
            "chart-harden: resolved 0/2 image digests in 2.5s (2 failed)"
        );
        assert_eq!(
            finish_line(2, 2, 2, t),
            "chart-harden: resolved 2/2 image digests in 2.5s"
        );
        assert_eq!(
            finish_line(1, 1, 3, t),
            "chart-harden: resolved 1/3 image digests in 2.5s (2 failed)"
        );
    }
}
