//! Runs the built `henn` binary as a child process with a deadline (a hang fails the test fast).

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished `henn` process left behind.
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `henn args...` in `dir` (or the current directory) with extra environment `env`, its
/// stdout and stderr piped (so neither is a terminal); kills it and panics after `deadline`.
pub fn henn_in(dir: Option<&Path>, args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_henn"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("henn starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for henn") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("henn {args:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// [`henn_in`] in the current directory with no extra environment and a 120 s deadline.
pub fn henn(args: &[&str]) -> Run {
    henn_in(None, args, &[], Duration::from_secs(120))
}

/// Asserts `run` failed with exit code 1 and one `error: ...` message (no backtrace, no
/// `Debug` dump) containing every string of `needles`.
pub fn assert_error(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, Some(1), "exit code; stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("error: "),
        "no 'error: ' in stderr: {}",
        run.stderr
    );
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "{n:?} not in stderr: {}",
            run.stderr
        );
    }
    for bad in ["Backtrace", "backtrace", "Caused by:", "\x1b["] {
        assert!(
            !run.stderr.contains(bad),
            "{bad:?} in stderr: {}",
            run.stderr
        );
    }
}
