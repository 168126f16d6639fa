//! Child processes for the tests that run the real binary and real peers: killed on drop, a
//! log to wait on, shell steps, network namespaces removed on drop.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Runs a shell script; whether it succeeded.
pub fn sh(script: &str) -> bool {
    Command::new("sh")
        .args(["-c", script])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `tool` is on PATH; says so when it is not.
pub fn have(tool: &str) -> bool {
    let found = sh(&format!("command -v {tool} >/dev/null"));
    if !found {
        eprintln!("SKIPPED: {tool} is not installed (./dev test installs it)");
    }
    found
}

/// A child process, killed and reaped on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a process writes, read on a thread for its whole life (a closed pipe would break
/// its logging).
pub struct LogLines(Receiver<String>);

impl LogLines {
    pub fn follow(output: impl Read + Send + 'static) -> LogLines {
        let (lines, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        LogLines(log)
    }

    /// The next line containing `needle`, if one comes within `within`.
    pub fn wait_for(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Network namespaces, deleted on drop (with the links inside them).
pub struct Namespaces(pub Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            sh(&format!("ip netns del {name} 2>/dev/null"));
        }
    }
}
