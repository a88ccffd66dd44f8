//! The progress line shown (through the resolver's notice) while digests resolve.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Notice;

/// A progress line (to the notice) when resolution takes more than a second.
pub(super) struct Progress {
    /// Lookups finished (resolved or failed).
    pub(super) done: Arc<AtomicUsize>,
    /// Lookups that produced a digest.
    pub(super) resolved: Arc<AtomicUsize>,
    shown: Arc<AtomicBool>,
    total: usize,
    start: Instant,
    pub(super) task: Option<tokio::task::JoinHandle<()>>,
    notice: Option<Notice>,
}

impl Progress {
    pub(super) fn start(total: usize, notice: Option<Notice>) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let shown = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let task = notice.clone().map(|notice| {
            let done = Arc::clone(&done);
            let shown = Arc::clone(&shown);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                loop {
                    notice(&format!(
                        "chart-harden: resolving image digests: {}/{total} done ({:.1}s)",
                        done.load(Ordering::Relaxed),
                        start.elapsed().as_secs_f64()
                    ));
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
            notice,
        }
    }

    pub(super) fn finish(self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        if let (true, Some(notice)) = (self.shown.load(Ordering::Relaxed), &self.notice) {
            notice(&finish_line(
                self.resolved.load(Ordering::Relaxed),
                self.done.load(Ordering::Relaxed),
                self.total,
                self.start.elapsed(),
            ));
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
pub(super) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A notice that keeps the lines it is given.
    pub(crate) fn recording() -> (Notice, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let notice: Notice =
            Arc::new(move |l: &str| super::super::guard(&kept).push(l.to_string()));
        (notice, lines)
    }

    #[test]
    fn progress_lines_go_to_the_notice() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (notice, lines) = recording();
        rt.block_on(async {
            let p = Progress::start(2, Some(notice));
            p.done.fetch_add(1, Ordering::Relaxed);
            p.resolved.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(1300)).await;
            p.finish();
        });
        let lines = super::super::guard(&lines).clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("chart-harden: resolving image digests: 1/2 done ("),
            "{lines:?}"
        );
        assert!(!lines[1].contains('\n'), "{lines:?}");
        // Without a notice nothing is shown (and nothing is printed).
        rt.block_on(async {
            let p = Progress::start(1, None);
            assert!(p.task.is_none());
            p.finish();
        });
    }

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
