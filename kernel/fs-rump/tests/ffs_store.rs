//! The FFS store against a hosted rump kernel (this workspace's rumpuser hypercalls on
//! the std host), on disks made by `makefs -t ffs` ([`ethos_fs_rump::image`]): the
//! store conformance suite, persistence across unmount and remount and across
//! processes, the disks it refuses, and random operations compared with the memory
//! store.
//!
//! Each scenario runs in a child process (one rump kernel per process, and its
//! reboot ends the process): a test re-runs this test binary with
//! `ETHOS_FS_RUMP_SCENARIO` set, and `scenario_entry` dispatches on it. Without
//! `RUMPKERNEL_DIR` every test is reported as ignored, with that reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ethos_fs::DirectoryRecord;

const SCENARIO_VARIABLE: &str = "ETHOS_FS_RUMP_SCENARIO";
const DISK_VARIABLE: &str = "ETHOS_FS_RUMP_DISK";

/// The root record the conformance suite expects: label `root`, type bytes all 1.
fn root_record() -> DirectoryRecord {
    DirectoryRecord {
        label: String::from("root"),
        type_hash: [1; 64],
    }
}

fn run_scenario(scenario: &str, disk: &Path) -> Output {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "scenario_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_VARIABLE, scenario)
        .env(DISK_VARIABLE, disk)
        .output()
        .expect("child test process starts")
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
    let directory =
        std::env::temp_dir().join(format!("ethos-fs-rump-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

/// A new store's disk of `size` bytes.
fn new_disk(directory: &Path, size: u64) -> PathBuf {
    let disk = directory.join("disk.img");
    ethos_fs_rump::image::make(&disk, size, &root_record(), 1)
        .unwrap_or_else(|error| panic!("making the disk: {error}"));
    disk
}

/// Runs `scenario` on `disk` and checks it ended well and printed `expected`.
fn expect_scenario(scenario: &str, disk: &Path, expected: &str) {
    let output = run_scenario(scenario, disk);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains(expected), "{text}");
}

#[test]
#[ignore = "entry point of the child processes the other tests start"]
fn scenario_entry() {
    let scenario = std::env::var(SCENARIO_VARIABLE).expect("started by a test with a scenario");
    #[cfg(rump_linked)]
    scenarios::run(&scenario, &std::env::var(DISK_VARIABLE).expect("a disk"));
    #[cfg(not(rump_linked))]
    panic!("scenario {scenario} needs a rump kernel: set RUMPKERNEL_DIR");
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn the_ffs_store_conforms() {
    let directory = scratch_directory("conformance");
    let disk = new_disk(&directory, 8 << 20);
    expect_scenario("conformance", &disk, "the FFS store conforms");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn values_persist_across_unmount_and_across_processes() {
    let directory = scratch_directory("persist");
    let disk = new_disk(&directory, 8 << 20);
    expect_scenario(
        "persist_write",
        &disk,
        "written and read back after a remount",
    );
    expect_scenario("persist_read", &disk, "read back in a new rump kernel");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn disks_that_are_not_stores_are_refused() {
    let directory = scratch_directory("refused");
    let zeros = directory.join("zeros.img");
    std::fs::write(&zeros, vec![0u8; 4 << 20]).expect("a disk of zeros");
    expect_scenario("refuse_foreign", &zeros, "refused: ");
    let bare = directory.join("bare.img");
    let empty = directory.join("empty");
    std::fs::create_dir_all(&empty).expect("an empty directory");
    let made = Command::new("makefs")
        .args(["-t", "ffs", "-o", "version=2", "-s", "4194304"])
        .arg(&bare)
        .arg(&empty)
        .output()
        .expect("makefs (Debian package makefs) must be installed");
    assert!(made.status.success(), "{}", describe(&made));
    expect_scenario(
        "refuse_bare_ffs",
        &bare,
        "refused: the disk is FFS but not a store",
    );
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
#[cfg_attr(not(rump_linked), ignore = "needs a rump kernel: set RUMPKERNEL_DIR")]
fn random_operations_match_the_memory_store() {
    let directory = scratch_directory("model");
    let disk = new_disk(&directory, 16 << 20);
    expect_scenario("model", &disk, "matches the memory store");
    let _ = std::fs::remove_dir_all(directory);
}

#[cfg(rump_linked)]
#[path = "support/scenarios.rs"]
mod scenarios;
