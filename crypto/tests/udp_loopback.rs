//! Runs `minimalt-echo` as two Linux processes talking MinimaLT over UDP on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `cargo test` builds examples next to the test binaries' `deps` folder.
fn example() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile folder");
    profile.join("examples").join("minimalt-echo")
}

/// Kills the server if the test fails before it exits.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn public_key(seed: &str) -> String {
    let output = Command::new(example())
        .args(["public", "--seed", seed])
        .output()
        .expect("run minimalt-echo public");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[test]
fn echo_between_two_processes_over_udp() {
    let server_seed = "11".repeat(32);
    let client_seed = "22".repeat(32);
    let server_public = public_key(&server_seed);
    let client_public = public_key(&client_seed);
    let mut server = Reap(
        Command::new(example())
            .args([
                "server",
                "--seed",
                &server_seed,
                "--client-public",
                &client_public,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server"),
    );
    let mut lines = BufReader::new(server.0.stdout.take().expect("server stdout")).lines();
    let listening = lines.next().expect("a line").expect("utf-8");
    assert!(listening.starts_with("listening 127.0.0.1:"), "{listening}");
    let record_line = lines.next().expect("a line").expect("utf-8");
    let record = record_line.strip_prefix("record ").expect("a record line");

    let client = Command::new(example())
        .args([
            "client",
            "--seed",
            &client_seed,
            "--server-public",
            &server_public,
            "--record",
            record,
            "--messages",
            "200",
        ])
        .output()
        .expect("run the client");
    assert!(
        client.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&client.stdout).trim(),
        "echoed 200 messages"
    );

    let rest: Vec<String> = lines.map(|line| line.expect("utf-8")).collect();
    let status = server.0.wait().expect("server exit");
    assert!(status.success(), "server failed: {rest:?}");
    let connection = rest
        .iter()
        .find(|line| line.starts_with("connection "))
        .expect("a connection line");
    // The server saw the client's user (its key seed is the client's with the first byte
    // inverted), authenticated for this tunnel.
    let user_public = public_key(&format!("dd{}", "22".repeat(31)));
    assert!(
        connection.ends_with(&format!("service echo user {user_public}")),
        "{connection}"
    );
    assert_eq!(
        rest.last().map(String::as_str),
        Some("served 1 connections")
    );
}
