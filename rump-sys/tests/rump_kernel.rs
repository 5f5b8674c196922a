//! Tests against a real rump kernel running on this crate's hypercalls. Each scenario runs
//! in a child process (one rump kernel per process, and reboot ends the process): the test
//! re-runs this test binary with `RUMP_SYS_SCENARIO` set, and the `scenario_entry` test
//! dispatches on it. Without `RUMPKERNEL_DIR` every test here is reported as ignored.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// The scenarios use every component the tests need.
#[cfg(all(
    rump_linked,
    feature = "tmpfs",
    feature = "kernfs",
    feature = "ext2fs",
    feature = "inet6",
    feature = "shmif"
))]
#[path = "support/scenarios.rs"]
mod scenarios;

const SCENARIO_VARIABLE: &str = "RUMP_SYS_SCENARIO";

/// Runs `scenario` in a child process with extra environment, returning its output.
fn run_scenario(scenario: &str, environment: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "--exact",
            "scenario_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_VARIABLE, scenario);
    for (name, value) in environment {
        command.env(name, value);
    }
    command.output().expect("child test process starts")
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn scratch_directory(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("rump-sys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

#[test]
#[ignore = "entry point of the child processes the other tests start"]
fn scenario_entry() {
    let scenario = std::env::var(SCENARIO_VARIABLE).expect("started by a test with a scenario");
    #[cfg(all(
        rump_linked,
        feature = "tmpfs",
        feature = "kernfs",
        feature = "ext2fs",
        feature = "inet6",
        feature = "shmif"
    ))]
    scenarios::run(&scenario);
    #[cfg(not(all(
        rump_linked,
        feature = "tmpfs",
        feature = "kernfs",
        feature = "ext2fs",
        feature = "inet6",
        feature = "shmif"
    )))]
    panic!("scenario {scenario} needs a rump kernel with features tmpfs,kernfs,ext2fs,inet6,shmif");
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn boots_on_rust_hypercalls_and_reboots_cleanly() {
    let output = run_scenario("boot", &[]);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("rump_init returned 0"), "{text}");
    assert!(text.contains("rump kernel halting"), "{text}");
    assert!(!text.contains("REBOOT RETURNED"), "{text}");
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn tmpfs_and_kernfs_file_operations() {
    let output = run_scenario("tmpfs_kernfs", &[]);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("tmpfs and kernfs checks passed"), "{text}");
}

fn host_tool(name: &str, arguments: &[&str], image: &Path) -> Output {
    Command::new(name)
        .args(arguments)
        .arg(image)
        .output()
        .unwrap_or_else(|error| panic!("{name} must be installed (e2fsprogs): {error}"))
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn ext2_image_on_a_host_file_is_written_and_checks_clean() {
    let directory = scratch_directory("ext2");
    let image = directory.join("disk.img");
    let made = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "1024"])
        .arg(&image)
        .arg("8M")
        .output()
        .expect("mke2fs must be installed (e2fsprogs)");
    assert!(made.status.success(), "{}", describe(&made));
    let image_text = image.to_str().expect("UTF-8 path");
    let output = run_scenario("ext2", &[("RUMP_SYS_EXT2_IMAGE", image_text)]);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("ext2 files written"), "{text}");

    let check = host_tool("e2fsck", &["-f", "-n"], &image);
    assert!(check.status.success(), "e2fsck: {}", describe(&check));
    let listing = host_tool("debugfs", &["-R", "ls -l /data"], &image);
    let listing_text = String::from_utf8_lossy(&listing.stdout);
    for index in 0..4 {
        assert!(
            listing_text.contains(&format!("file{index}.bin")),
            "{listing_text}"
        );
    }
    let content = host_tool("debugfs", &["-R", "cat /hello.txt"], &image);
    assert_eq!(
        String::from_utf8_lossy(&content.stdout),
        "written by a rump kernel on Rust hypercalls\n"
    );
    let _ = std::fs::remove_dir_all(directory);
}

fn tcp_between_two_kernels(family: &str) {
    let directory = scratch_directory(&format!("tcp-{family}"));
    let bus = directory.join("bus");
    let bus_text = bus.to_str().expect("UTF-8 path").to_owned();
    let server = {
        let bus_text = bus_text.clone();
        let family = family.to_owned();
        std::thread::spawn(move || {
            run_scenario(
                "tcp_server",
                &[("RUMP_SYS_BUS", &bus_text), ("RUMP_SYS_FAMILY", &family)],
            )
        })
    };
    let client = run_scenario(
        "tcp_client",
        &[("RUMP_SYS_BUS", &bus_text), ("RUMP_SYS_FAMILY", family)],
    );
    let server = server.join().expect("server thread");
    let (client_text, server_text) = (describe(&client), describe(&server));
    assert_eq!(
        server.status.code(),
        Some(0),
        "server: {server_text}\nclient: {client_text}"
    );
    assert_eq!(
        client.status.code(),
        Some(0),
        "client: {client_text}\nserver: {server_text}"
    );
    assert!(server_text.contains("payload verified"), "{server_text}");
    assert!(client_text.contains("acknowledged"), "{client_text}");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn tcp_over_shared_memory_ethernet_ipv4() {
    tcp_between_two_kernels("inet");
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn tcp_over_shared_memory_ethernet_ipv6() {
    tcp_between_two_kernels("inet6");
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn stress_two_cpus_eight_threads_mixed_system_calls() {
    let output = run_scenario("stress", &[("RUMP_NCPU", "2")]);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("stress: 80000 calls, 0 errors"), "{text}");
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn writing_to_a_closed_pipe_raises_sigpipe_in_the_host_process() {
    use std::os::unix::process::ExitStatusExt;
    let output = run_scenario("closed_pipe", &[]);
    let text = describe(&output);
    assert!(
        text.contains("writing to a pipe without a reader"),
        "{text}"
    );
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE), "{text}");
}

/// Builds the C client of `support/sysproxy_client.c` against upstream's librumpclient.
#[cfg(all(rump_linked, feature = "sysproxy"))]
fn build_remote_client(directory: &Path) -> PathBuf {
    let rump = std::env::var("RUMPKERNEL_DIR")
        .ok()
        .or(option_env!("RUMPKERNEL_DIR").map(str::to_owned))
        .expect("RUMPKERNEL_DIR names the rump kernel build");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/sysproxy_client.c");
    let program = directory.join("sysproxy_client");
    let built = Command::new("cc")
        .arg(format!("-I{rump}/include"))
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .arg(format!("{rump}/lib/librumpclient.a"))
        .args(["-lpthread", "-ldl"])
        .output()
        .expect("a C compiler (cc) builds the remote client");
    assert!(built.status.success(), "cc: {}", describe(&built));
    program
}

#[test]
#[cfg_attr(
    not(all(rump_linked, feature = "sysproxy")),
    ignore = "needs a rump kernel with the sysproxy feature: set RUMPKERNEL_DIR, add --features sysproxy"
)]
fn remote_client_runs_system_calls_in_the_rump_kernel_over_a_unix_socket() {
    #[cfg(all(rump_linked, feature = "sysproxy"))]
    {
        let directory = scratch_directory("sysproxy");
        let client = build_remote_client(&directory);
        let socket = directory.join("server.sock");
        let url = format!("unix://{}", socket.display());
        let server = {
            let url = url.clone();
            std::thread::spawn(move || {
                run_scenario("sysproxy_server", &[("RUMP_SYS_SERVER_URL", &url)])
            })
        };
        let start = std::time::Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30) && !server.is_finished(),
                "the server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = Command::new(&client)
            .env("RUMP_SERVER", &url)
            .output()
            .expect("the client runs");
        let client_text = describe(&output);
        let server = server.join().expect("server thread");
        let server_text = describe(&server);
        assert_eq!(
            output.status.code(),
            Some(0),
            "client: {client_text}\nserver: {server_text}"
        );
        assert!(
            client_text.contains("read back 37 bytes: written through the system call proxy"),
            "{client_text}"
        );
        // Served by the rump kernel: it has its own pid for the client, not the host's, ...
        let line = client_text
            .lines()
            .find(|line| line.starts_with("client: host pid"))
            .expect("pid line");
        let numbers: Vec<i64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|word| word.parse().ok())
            .collect();
        assert_eq!(numbers.len(), 2, "{line}");
        assert_ne!(numbers[0], numbers[1], "{line}");
        // ... and the rump kernel itself finds the file the client wrote.
        assert_eq!(
            server.status.code(),
            Some(0),
            "server: {server_text}\nclient: {client_text}"
        );
        assert!(
            server_text.contains("server reads: written through the system call proxy"),
            "{server_text}"
        );
        assert!(!socket.exists(), "the socket file is removed at halt");
        let _ = std::fs::remove_dir_all(directory);
    }
}
