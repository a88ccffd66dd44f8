//! Push COUNT distinct small images to a local registry (benchmark seed).
//!
//! `seed HOST:PORT COUNT [PREFIX]` pushes `HOST:PORT/PREFIX-i:1` for i in
//! 0..COUNT (each with its own layer and config, so its own digest) and
//! prints the references, one per line.

#[path = "../tests/common/push.rs"]
mod push;

use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(host), Some(count)) = (
        args.first(),
        args.get(1).and_then(|c| c.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: seed HOST:PORT COUNT [PREFIX]");
        return ExitCode::from(2);
    };
    let prefix = args.get(2).cloned().unwrap_or_else(|| "bench".to_string());
    let pusher = Arc::new(push::Pusher::new(host, None));
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..count {
        let pusher = Arc::clone(&pusher);
        let sem = Arc::clone(&sem);
        let repo = format!("{prefix}-{i}");
        set.spawn(async move {
            let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
            let spec = push::ImageSpec::new(&repo).user(&(1000 + i).to_string());
            pusher.push(&repo, Some("1"), &push::build(&spec)).await?;
            Ok::<usize, String>(i)
        });
    }
    let mut failed = false;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                eprintln!("seed: {e}");
                failed = true;
            }
            Err(e) => {
                eprintln!("seed: task failed: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::from(1);
    }
    for i in 0..count {
        println!("{host}/{prefix}-{i}:1");
    }
    ExitCode::SUCCESS
}
