//! The typed file system's rows: each boots the production kernel on a disk made
//! for the row (an empty store of the image's `[storage]` plan, in a file under the
//! scratch directory), once or many times, and judges what the programs of the
//! `fs-*` init sets print (`system_test_programs::files`), the kernel's `store` line
//! (which backend served the store, and how many problems its check at mount found)
//! and, between boots, the host's own check of the disk image
//! (`ethos_fs::native::check`).
//!
//! - `fs-persist`: values written on one boot read back on the next, byte-exact;
//!   the kernel's refusals (ill-typed values, another user, another program).
//! - `fs-power-cut`: QEMU killed at [`POWER_CUTS`] random moments while
//!   `fs-churn` writes; after each, the disk checks clean on the host, the next
//!   boot's check finds no problem, every slot holds a whole value, and the newest
//!   is at least the last one the program saw durable (and at most one past it).
//! - `fs-full`: a small disk fills up; the refusal is `StorageFull` and nothing
//!   written before is lost.
//! - `fs-faults`: QEMU's `blkdebug` fails the first write and the first read after a
//!   flush; each surfaces as `StorageFailed` and the store stays intact.
//! - `fs-bit-flip`: one bit of a stored value flipped on the host: the kernel's
//!   check at mount counts it, reading the value answers `StorageFailed`, the
//!   others read back, and the host's check names it.
//! - `fs-foreign-disk`: a disk of random bytes is refused at mount with the reason,
//!   never a panic.
//! - `fs-boot-disk`: a disk made as `cargo xtask image` makes it, holding the
//!   initial image in `/boot`, with one init set ([`DISK_ONLY_SET`]) the kernel's
//!   embedded image lacks: the kernel starts that set from the disk and says so
//!   (`image_from_disk`), what it wrote reads back on the next boot (also started from
//!   the disk), and once the host damaged `/boot/labels` the boot is refused with
//!   the entry named, never a panic.
//! - `fs-persist-rump`: `fs-persist` with NetBSD's FFS in the rump kernel as the
//!   store (`storage=rump`, on a disk made by `makefs -t ffs` plus the root's record,
//!   [`ethos_fs_rump::image`]); the `store` line must name the rump backend.
//! - `fs-power-cut-rump`: `fs-power-cut` on NetBSD's FFS, with [`RUMP_POWER_CUTS`]
//!   cuts after NetBSD's boot; the host has no FFS checker, so each next boot's
//!   mount and the program's check of every slot are the check.
//!
//! Every native row runs under TCG on microvm with the disk on virtio-blk over
//! virtio-mmio; the rows check what the kernel and the store do, not how fast. The
//! rump rows run on the PC with the disk on legacy virtio-blk-pci, which NetBSD's
//! `ld` drives (`backend.block=rump`); they are skipped, with the reason, when the
//! kernel links no rump kernel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ethos_abi::drivers::Backend;
use ethos_abi::{ExitCode, Report};
use ethos_fs::native::{self, FILE_BLOCK_SIZE, FileDevice};
use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Name, Store};

use crate::harness::{self, RunEnd, Transcript, Verdict};
use crate::qemu::{Accelerator, Machine, QemuConfig};
use crate::scenarios::{self, Ending};
use crate::system::Outcome;

/// How many times `fs-power-cut` kills QEMU.
pub const POWER_CUTS: usize = 50;

/// How many times `fs-power-cut-rump` kills QEMU.
pub const RUMP_POWER_CUTS: usize = 20;

/// When, in each boot of `fs-power-cut-rump`, QEMU may be killed (ms after its
/// start): NetBSD boots in a fraction of a second, so mostly during the writes.
const RUMP_CUT_WINDOW_MS: (u64, u64) = (600, 4_000);

/// How long one boot may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The size of the disks, but `fs-full`'s.
const DISK_BYTES: u64 = 16 << 20;

/// The init set `fs-boot-disk`'s disk adds to the initial image in its `/boot`: the
/// production kernel's embedded image has no set of this name.
pub const DISK_ONLY_SET: &str = "fs-from-disk";
/// Its processes, (user, program): what `fs-write` starts.
pub const DISK_ONLY_SET_PROCESSES: &[(&str, &str)] = &[("alice", "fs-write"), ("carol", "fs-peek")];
/// `fs-full`'s disk: a few of `fs-fill`'s values.
const SMALL_DISK_BYTES: u64 = 2 << 20;

/// How long one boot with the rump kernel may take (NetBSD boots under TCG first).
const RUMP_TIMEOUT: Duration = Duration::from_secs(300);

/// What the rows need from the build.
#[derive(Clone, Debug)]
pub struct StorageInputs {
    /// The kernel users boot (the init sets need no in-kernel test).
    pub kernel: PathBuf,
    /// The root directory the image's `[storage]` gives a new disk.
    pub root: DirectoryRecord,
    /// A disk made as `cargo xtask image` makes it, from the image the kernel embeds,
    /// with the init set [`DISK_ONLY_SET`] added to its `/boot`; rows copy it.
    pub boot_disk: PathBuf,
    /// Where disks are made and failed runs keep their logs.
    pub log_directory: PathBuf,
    /// Why the rump rows cannot run (the kernel links no rump kernel), if so.
    pub rump_unavailable: Option<String>,
}

/// What a row does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Persist,
    PowerCut,
    Full,
    Faults,
    BitFlip,
    ForeignDisk,
    BootDisk,
    PersistRump,
    PowerCutRump,
}

/// One row.
#[derive(Clone, Copy, Debug)]
pub struct StorageRow {
    pub name: &'static str,
    pub about: &'static str,
    scenario: Scenario,
}

/// Every row.
pub const ROWS: &[StorageRow] = &[
    StorageRow {
        name: "fs-persist",
        about: "values written on one boot read back byte-exact on the next; ill-typed \
                values, another user and another program refused",
        scenario: Scenario::Persist,
    },
    StorageRow {
        name: "fs-power-cut",
        about: "QEMU killed at 50 random moments during writes; each disk checks clean \
                and holds every value the program saw durable",
        scenario: Scenario::PowerCut,
    },
    StorageRow {
        name: "fs-full",
        about: "a full disk refuses with storage-full and loses nothing",
        scenario: Scenario::Full,
    },
    StorageRow {
        name: "fs-faults",
        about: "blkdebug read and write errors surface as storage-failed; the store stays intact",
        scenario: Scenario::Faults,
    },
    StorageRow {
        name: "fs-bit-flip",
        about: "a bit flipped on the disk is found by the checksums, at mount and on read",
        scenario: Scenario::BitFlip,
    },
    StorageRow {
        name: "fs-foreign-disk",
        about: "a disk that holds no store is refused at mount with the reason",
        scenario: Scenario::ForeignDisk,
    },
    StorageRow {
        name: "fs-boot-disk",
        about: "the kernel starts an init set only the disk's /boot holds; its writes are \
                there on the next boot; a damaged /boot is refused with the entry named",
        scenario: Scenario::BootDisk,
    },
    StorageRow {
        name: "fs-persist-rump",
        about: "NetBSD's FFS in the rump kernel as the store: values written on one boot read \
                back byte-exact on the next; the same refusals",
        scenario: Scenario::PersistRump,
    },
    StorageRow {
        name: "fs-power-cut-rump",
        about: "NetBSD's FFS as the store, QEMU killed at 20 random moments during writes; \
                every value the program saw durable is there",
        scenario: Scenario::PowerCutRump,
    },
];

/// The rows whose name contains `filter` (every row without one).
pub fn select(filter: Option<&str>) -> Vec<StorageRow> {
    ROWS.iter()
        .filter(|row| filter.is_none_or(|filter| row.name.contains(filter)))
        .copied()
        .collect()
}

/// A disk to boot: the image file, for `fs-faults` blkdebug's rules, and the store
/// it holds (the kernel is told to mount that backend).
struct Disk {
    path: PathBuf,
    rules: Option<PathBuf>,
    backend: Backend,
}

impl Disk {
    fn drive(&self) -> String {
        match &self.rules {
            Some(rules) => format!(
                "file=blkdebug:{}:{},format=raw,if=none,id=d0",
                rules.display(),
                self.path.display()
            ),
            None => format!("file={},format=raw,if=none,id=d0", self.path.display()),
        }
    }
}

/// The boot of `set` on `disk`.
fn config(inputs: &StorageInputs, set: &str, disk: &Disk) -> QemuConfig {
    if disk.backend == Backend::Rump {
        // NetBSD's virtio transport is legacy only, and its `ld` serves the store's
        // disk to FFS.
        let mut config = QemuConfig::pvh(
            &inputs.kernel,
            &format!("init={set} backend.block=rump storage=rump"),
            Machine::Pc,
            Accelerator::Tcg,
        );
        config.extra = vec![
            "-drive".into(),
            disk.drive(),
            "-device".into(),
            "virtio-blk-pci,drive=d0,disable-modern=on".into(),
        ];
        return config;
    }
    let mut config = QemuConfig::pvh(
        &inputs.kernel,
        &format!("init={set}"),
        Machine::Microvm,
        Accelerator::Tcg,
    );
    config.extra = vec![
        "-drive".into(),
        disk.drive(),
        "-device".into(),
        "virtio-blk-device,drive=d0".into(),
    ];
    config
}

/// A row's failure: the reason, and the transcripts worth keeping.
struct Failure {
    reason: String,
    transcripts: Vec<Transcript>,
}

type Judged = Result<(), Failure>;

fn failure(reason: impl Into<String>, transcript: Option<&Transcript>) -> Failure {
    Failure {
        reason: reason.into(),
        transcripts: transcript.into_iter().cloned().collect(),
    }
}

impl StorageRow {
    /// The commands a run makes, for the log.
    pub fn display(&self, inputs: &StorageInputs) -> Vec<String> {
        let disk = Disk {
            path: self.scratch(inputs).join("disk.img"),
            rules: (self.scenario == Scenario::Faults)
                .then(|| self.scratch(inputs).join("blkdebug.conf")),
            backend: self.backend(),
        };
        let sets: &[&str] = match self.scenario {
            Scenario::Persist | Scenario::BitFlip | Scenario::PersistRump => {
                &["fs-write", "fs-read"]
            }
            Scenario::PowerCut | Scenario::PowerCutRump => &["fs-churn", "fs-verify"],
            Scenario::Full => &["fs-fill"],
            Scenario::Faults => &["fs-faults"],
            Scenario::ForeignDisk => &["fs-read"],
            Scenario::BootDisk => &[DISK_ONLY_SET, "fs-read", "fs-read"],
        };
        sets.iter()
            .map(|set| config(inputs, set, &disk).display())
            .collect()
    }

    fn scratch(&self, inputs: &StorageInputs) -> PathBuf {
        inputs.log_directory.join("storage").join(self.name)
    }

    /// The backend of the store the row's kernel mounts.
    fn backend(&self) -> Backend {
        match self.scenario {
            Scenario::PersistRump | Scenario::PowerCutRump => Backend::Rump,
            _ => Backend::Native,
        }
    }

    /// Runs the row.
    pub fn run(&self, inputs: &StorageInputs) -> Outcome {
        let started = Instant::now();
        if self.backend() == Backend::Rump
            && let Some(reason) = &inputs.rump_unavailable
        {
            return Outcome {
                verdict: Verdict::Skipped(reason.clone()),
                elapsed: started.elapsed(),
                log: None,
            };
        }
        let scratch = self.scratch(inputs);
        let judged = std::fs::create_dir_all(&scratch)
            .map_err(|error| failure(format!("{}: {error}", scratch.display()), None))
            .and_then(|()| match self.scenario {
                Scenario::Persist => persist(inputs, &scratch),
                Scenario::PowerCut => power_cut(inputs, &scratch, Backend::Native),
                Scenario::PowerCutRump => power_cut(inputs, &scratch, Backend::Rump),
                Scenario::Full => full(inputs, &scratch),
                Scenario::Faults => faults(inputs, &scratch),
                Scenario::BitFlip => bit_flip(inputs, &scratch),
                Scenario::ForeignDisk => foreign_disk(inputs, &scratch),
                Scenario::BootDisk => boot_disk(inputs, &scratch),
                Scenario::PersistRump => persist_rump(inputs, &scratch),
            });
        match judged {
            Ok(()) => Outcome {
                verdict: Verdict::Passed,
                elapsed: started.elapsed(),
                log: None,
            },
            Err(Failure {
                reason,
                transcripts,
            }) => {
                let mut log = None;
                for (index, transcript) in transcripts.iter().enumerate() {
                    log = transcript
                        .keep(&inputs.log_directory, &format!("{}-{index}", self.name))
                        .ok()
                        .or(log);
                }
                Outcome {
                    verdict: Verdict::Failed(reason),
                    elapsed: started.elapsed(),
                    log,
                }
            }
        }
    }
}

/// A new, empty store of the image's plan in `path`, `bytes` long.
fn new_disk(inputs: &StorageInputs, path: &Path, bytes: u64) -> Result<Disk, Failure> {
    let _ = std::fs::remove_file(path);
    let device = FileDevice::create(path, bytes / FILE_BLOCK_SIZE as u64)
        .map_err(|error| failure(format!("{}: {error}", path.display()), None))?;
    native::format(device, &inputs.root, 0)
        .map_err(|error| failure(format!("formatting {}: {error}", path.display()), None))?;
    Ok(Disk {
        path: path.to_path_buf(),
        rules: None,
        backend: Backend::Native,
    })
}

/// A new, empty FFS store of the image's plan in `path`, `bytes` long: `makefs -t
/// ffs` with the root's record.
fn new_rump_disk(inputs: &StorageInputs, path: &Path, bytes: u64) -> Result<Disk, Failure> {
    ethos_fs_rump::image::make(path, bytes, &inputs.root, 0)
        .map_err(|error| failure(format!("making {}: {error}", path.display()), None))?;
    Ok(Disk {
        path: path.to_path_buf(),
        rules: None,
        backend: Backend::Rump,
    })
}

/// The host's check of the disk: clean, or the failure naming every problem.
fn host_check(disk: &Disk, after: &str) -> Judged {
    let mut device = FileDevice::open_read_only(&disk.path)
        .map_err(|error| failure(format!("{}: {error}", disk.path.display()), None))?;
    let report = native::check(&mut device);
    if report.is_clean() {
        Ok(())
    } else {
        Err(failure(
            format!("after {after}, the host's check of the disk found:\n{report}"),
            None,
        ))
    }
}

/// The kernel's `store` line: served by `expected`, with this many problems.
fn store_problems(transcript: &Transcript, expected: Backend) -> Result<u64, String> {
    transcript
        .reports()
        .filter_map(Result::ok)
        .find_map(|report| match report {
            Report::Store {
                backend, problems, ..
            } => Some((backend, problems)),
            _ => None,
        })
        .ok_or_else(|| String::from("the kernel mounted no store (no `store` line)"))
        .and_then(|(backend, problems)| {
            if backend == expected {
                Ok(problems)
            } else {
                Err(format!(
                    "the store was served by {}, not {}",
                    backend.name(),
                    expected.name()
                ))
            }
        })
}

/// A boot of `set` that must end with success, every process ending as `endings`
/// says, each of `lines` printed (by alice unless the line names carol), and the
/// store's check at mount finding `problems` problems.
fn boot(
    inputs: &StorageInputs,
    set: &str,
    disk: &Disk,
    endings: &[Ending],
    lines: &[(&str, &str)],
    problems: u64,
) -> Result<Transcript, Failure> {
    let timeout = match disk.backend {
        Backend::Rump => RUMP_TIMEOUT,
        Backend::Native => TIMEOUT,
    };
    let transcript = harness::run(&config(inputs, set, disk), timeout);
    let judged = (|| {
        if transcript.end != RunEnd::Kernel(ExitCode::Success) {
            return Err(format!("init={set}: {}", transcript.end));
        }
        let found = store_problems(&transcript, disk.backend)?;
        if found != problems {
            return Err(format!(
                "init={set}: the kernel's check at mount found {found} problems, not {problems}"
            ));
        }
        scenarios::ended(&transcript, endings).map_err(|reason| format!("init={set}: {reason}"))?;
        for (user, line) in lines {
            scenarios::printed(&transcript, user, line)
                .map_err(|reason| format!("init={set}: {reason}"))?;
        }
        Ok(())
    })();
    match judged {
        Ok(()) => Ok(transcript),
        Err(reason) => Err(failure(reason, Some(&transcript))),
    }
}

const WROTE: &str = "fs-write: wrote 20 notes and 3 chunks";
const REFUSED: &str = "fs-peek: every access refused";
const READ: &str = "fs-read: 20 notes and 3 chunks as written";

fn write_boot(inputs: &StorageInputs, disk: &Disk) -> Judged {
    boot(
        inputs,
        "fs-write",
        disk,
        &[
            ("alice", "fs-write", "exit", 0),
            ("carol", "fs-peek", "exit", 0),
        ],
        &[("alice", WROTE), ("carol", REFUSED)],
        0,
    )
    .map(drop)
}

fn persist(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let disk = new_disk(inputs, &scratch.join("disk.img"), DISK_BYTES)?;
    write_boot(inputs, &disk)?;
    host_check(&disk, "fs-write")?;
    boot(
        inputs,
        "fs-read",
        &disk,
        &[("alice", "fs-read", "exit", 0)],
        &[("alice", READ)],
        0,
    )?;
    host_check(&disk, "fs-read")
}

/// `fs-persist` on NetBSD's FFS. The host has no FFS checker: the kernel's reads on
/// the second boot, through a fresh mount, are the check.
fn persist_rump(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let disk = new_rump_disk(inputs, &scratch.join("disk.img"), DISK_BYTES)?;
    write_boot(inputs, &disk)?;
    boot(
        inputs,
        "fs-read",
        &disk,
        &[("alice", "fs-read", "exit", 0)],
        &[("alice", READ)],
        0,
    )
    .map(drop)
}

/// The number after `prefix` in the last line of `user`'s that starts with it.
fn last_number(transcript: &Transcript, user: &str, prefix: &str) -> Option<Option<u64>> {
    let wanted = format!("user {user}: {prefix}");
    transcript.lines.iter().rev().find_map(|(_, line)| {
        line.strip_prefix(&wanted)
            .map(|rest| rest.trim().parse::<u64>().ok())
    })
}

/// A small generator for the moments of the power cuts (xorshift64*): the seed is
/// printed, so a failing sequence can be told apart from another.
struct Moments(u64);

impl Moments {
    fn next_millis(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low)
    }
}

/// How a power-cut row cuts: how often, and in which window of each boot (ms).
struct Cuts {
    count: usize,
    window: (u64, u64),
}

/// The native store's cuts: boots take a fraction of a second.
const NATIVE_CUTS: Cuts = Cuts {
    count: POWER_CUTS,
    window: (300, 4_000),
};

/// The rump store's cuts: fewer (each boot first brings up NetBSD), a little later.
const RUMP_CUTS: Cuts = Cuts {
    count: RUMP_POWER_CUTS,
    window: (RUMP_CUT_WINDOW_MS.0, RUMP_CUT_WINDOW_MS.1),
};

fn power_cut(inputs: &StorageInputs, scratch: &Path, backend: Backend) -> Judged {
    let path = scratch.join("disk.img");
    let (disk, cuts) = match backend {
        Backend::Native => (new_disk(inputs, &path, DISK_BYTES)?, NATIVE_CUTS),
        Backend::Rump => (new_rump_disk(inputs, &path, DISK_BYTES)?, RUMP_CUTS),
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64)
        | 1;
    println!("power cuts: seed {seed:#x}");
    let mut moments = Moments(seed);
    // What the last boot saw made durable, if anything.
    let mut durable: Option<u64> = None;
    let mut cuts_after_writes = 0;
    for cut in 0..cuts.count {
        // Boot, verify, write, and lose the machine at a moment between the boot's
        // start and a few seconds of writing.
        let moment = Duration::from_millis(moments.next_millis(cuts.window.0, cuts.window.1));
        let transcript = harness::run(&config(inputs, "fs-churn", &disk), moment);
        let context = |reason: String| {
            failure(
                format!(
                    "power cut {cut} (after {} ms): {reason}",
                    moment.as_millis()
                ),
                Some(&transcript),
            )
        };
        if !matches!(transcript.end, RunEnd::TimedOut(_)) {
            return Err(context(format!(
                "the run ended before the cut: {}",
                transcript.end
            )));
        }
        // This boot's view of the previous cut, if it got as far as its check.
        if let Some(newest) =
            last_number(&transcript, "alice", "fs-churn: verified 8 slots, newest")
        {
            let problems = store_problems(&transcript, disk.backend).map_err(context)?;
            if problems != 0 {
                return Err(context(format!(
                    "the kernel's check at mount found {problems} problems"
                )));
            }
            match (durable, newest) {
                (Some(seen), Some(newest)) if newest < seen || newest > seen + 1 => {
                    return Err(context(format!(
                        "the newest slot holds {newest}, but the last boot saw {seen} durable"
                    )));
                }
                (Some(seen), None) => {
                    return Err(context(format!(
                        "no slot holds a value, but the last boot saw {seen} durable"
                    )));
                }
                _ => {}
            }
            durable = newest.or(durable);
        }
        if let Some(Some(seen)) = last_number(&transcript, "alice", "fs-churn: durable") {
            durable = Some(seen);
            cuts_after_writes += 1;
        }
        if transcript
            .lines
            .iter()
            .any(|(_, line)| line.contains("panic") || line.starts_with("@ethos test-fail"))
        {
            return Err(context(String::from("the kernel or the program failed")));
        }
        if backend == Backend::Native {
            host_check(&disk, &format!("power cut {cut}"))?;
        }
    }
    if cuts_after_writes * 2 < cuts.count {
        return Err(failure(
            format!(
                "only {cuts_after_writes} of {} cuts came after a durable write: the \
                 moments are too early to test anything",
                cuts.count
            ),
            None,
        ));
    }
    let transcript = boot(
        inputs,
        "fs-verify",
        &disk,
        &[("alice", "fs-verify", "exit", 0)],
        &[],
        0,
    )?;
    let newest = last_number(&transcript, "alice", "fs-verify: verified 8 slots, newest").flatten();
    match (durable, newest) {
        (Some(seen), Some(newest)) if newest == seen || newest == seen + 1 => {
            println!(
                "power cuts: {} cuts, {cuts_after_writes} after writes; the last value \
                 seen durable was {seen}, the disk's newest is {newest}",
                cuts.count
            );
            Ok(())
        }
        _ => Err(failure(
            format!(
                "after the cuts the newest value is {newest:?}; the last seen durable, {durable:?}"
            ),
            Some(&transcript),
        )),
    }
}

fn full(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let disk = new_disk(inputs, &scratch.join("disk.img"), SMALL_DISK_BYTES)?;
    let transcript = boot(
        inputs,
        "fs-fill",
        &disk,
        &[("alice", "fs-fill", "exit", 0)],
        &[],
        0,
    )?;
    let filled = transcript.lines.iter().any(|(_, line)| {
        line.starts_with("user alice: fs-fill: full after ")
            && line.ends_with(" values, every one intact, a write after a removal succeeded")
    });
    if !filled {
        return Err(failure(
            "fs-fill did not report a full disk with every value intact",
            Some(&transcript),
        ));
    }
    host_check(&disk, "fs-fill")
}

/// blkdebug's rules: the first write fails; the first flush moves to state 2, where
/// the first read fails.
const FAULT_RULES: &str = "\
[set-state]
state = \"1\"
event = \"flush_to_disk\"
new_state = \"2\"

[inject-error]
event = \"write_aio\"
errno = \"5\"
once = \"on\"

[inject-error]
state = \"2\"
event = \"read_aio\"
errno = \"5\"
once = \"on\"
";

fn faults(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let mut disk = new_disk(inputs, &scratch.join("disk.img"), DISK_BYTES)?;
    let rules = scratch.join("blkdebug.conf");
    std::fs::write(&rules, FAULT_RULES)
        .map_err(|error| failure(format!("{}: {error}", rules.display()), None))?;
    disk.rules = Some(rules);
    boot(
        inputs,
        "fs-faults",
        &disk,
        &[("alice", "fs-faults", "exit", 0)],
        &[(
            "alice",
            "fs-faults: a failed write and a failed read each answered StorageFailed; the store \
             is intact",
        )],
        0,
    )?;
    disk.rules = None;
    host_check(&disk, "fs-faults")
}

/// Flips one bit in the middle of the first block of `chunks/chunk-1`'s value, found
/// by its bytes; answers the byte's offset.
fn flip_chunk(disk: &Disk) -> Result<u64, Failure> {
    let problem = |what: String| failure(what, None);
    let device = FileDevice::open(&disk.path)
        .map_err(|error| problem(format!("{}: {error}", disk.path.display())))?;
    let mut store = native::mount(device).map_err(|error| problem(format!("mount: {error}")))?;
    let name = |text: &str| Name::new(text).map_err(|error| problem(error.to_string()));
    let Entry::Directory(chunks) = store
        .lookup(DirectoryId::ROOT, &name("chunks")?)
        .map_err(|error| problem(format!("chunks: {error}")))?
    else {
        return Err(problem(String::from("chunks is not a directory")));
    };
    let value = store
        .read_file(chunks, &name("chunk-1")?)
        .map_err(|error| problem(format!("chunk-1: {error}")))?;
    drop(store);
    let block = FILE_BLOCK_SIZE;
    let first = value
        .get(..block)
        .ok_or_else(|| problem(String::from("chunk-1 is shorter than a block")))?;
    let mut image = std::fs::read(&disk.path)
        .map_err(|error| problem(format!("{}: {error}", disk.path.display())))?;
    let offset = image
        .chunks(block)
        .position(|candidate| candidate == first)
        .ok_or_else(|| problem(String::from("chunk-1's first block is nowhere on the disk")))?
        * block
        + block / 2;
    image[offset] ^= 0x10;
    std::fs::write(&disk.path, &image)
        .map_err(|error| problem(format!("{}: {error}", disk.path.display())))?;
    Ok(offset as u64)
}

fn bit_flip(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let disk = new_disk(inputs, &scratch.join("disk.img"), DISK_BYTES)?;
    write_boot(inputs, &disk)?;
    let offset = flip_chunk(&disk)?;
    let transcript = boot(
        inputs,
        "fs-read",
        &disk,
        &[("alice", "fs-read", "exit", 2)],
        &[("alice", "fs-read: reading chunk-1 failed: StorageFailed")],
        1,
    )?;
    let _ = transcript;
    match host_check(&disk, "the flip") {
        Err(found) if found.reason.contains("checksum") => {
            println!(
                "bit flip at byte {offset}: {}",
                found.reason.replace('\n', " | ")
            );
            Ok(())
        }
        Err(found) => Err(failure(
            format!(
                "the host's check found the flip but named no checksum: {}",
                found.reason
            ),
            None,
        )),
        Ok(()) => Err(failure(
            format!("the host's check found nothing wrong after the flip at byte {offset}"),
            None,
        )),
    }
}

fn foreign_disk(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let path = scratch.join("disk.img");
    // Bytes of no file system: a fixed pseudo-random sequence.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..DISK_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&path, bytes)
        .map_err(|error| failure(format!("{}: {error}", path.display()), None))?;
    let disk = Disk {
        path,
        rules: None,
        backend: Backend::Native,
    };
    refused_at_init(
        inputs,
        &disk,
        "the foreign disk",
        "the store: the disk: ",
        Some("no Ethos file system"),
    )
}

/// A boot of `fs-read` on `disk` that the kernel must end with failure, its
/// `test-fail name=init` reason starting with `starts` (and holding `holds`), never
/// a panic.
fn refused_at_init(
    inputs: &StorageInputs,
    disk: &Disk,
    what: &str,
    starts: &str,
    holds: Option<&str>,
) -> Judged {
    let transcript = harness::run(&config(inputs, "fs-read", disk), TIMEOUT);
    let refused = transcript.reports().filter_map(Result::ok).any(|report| {
        matches!(report, Report::TestFail { name: "init", reason }
            if reason.starts_with(starts) && holds.is_none_or(|text| reason.contains(text)))
    });
    let panicked = transcript
        .lines
        .iter()
        .any(|(_, line)| line.contains("panic"));
    if transcript.end == RunEnd::Kernel(ExitCode::Failure) && refused && !panicked {
        Ok(())
    } else {
        Err(failure(
            format!(
                "{what} was not refused with \"{starts}…\" ({}, refused: {refused}, \
                 panicked: {panicked})",
                transcript.end
            ),
            Some(&transcript),
        ))
    }
}

/// The `image_from_disk` metric a boot reported: 1 when it started from `/boot`.
fn from_disk(transcript: &Transcript, set: &str) -> Judged {
    match transcript.metric("image_from_disk") {
        Some(1) => Ok(()),
        found => Err(failure(
            format!("init={set}: the initial image did not come from the disk ({found:?})"),
            Some(transcript),
        )),
    }
}

fn boot_disk(inputs: &StorageInputs, scratch: &Path) -> Judged {
    let path = scratch.join("disk.img");
    std::fs::copy(&inputs.boot_disk, &path).map_err(|error| {
        failure(
            format!(
                "{} to {}: {error}",
                inputs.boot_disk.display(),
                path.display()
            ),
            None,
        )
    })?;
    let disk = Disk {
        path,
        rules: None,
        backend: Backend::Native,
    };
    host_check(&disk, "cargo xtask image")?;
    // The set exists only on the disk: that it runs shows where the image came from.
    let transcript = boot(
        inputs,
        DISK_ONLY_SET,
        &disk,
        &[
            ("alice", "fs-write", "exit", 0),
            ("carol", "fs-peek", "exit", 0),
        ],
        &[("alice", WROTE), ("carol", REFUSED)],
        0,
    )?;
    from_disk(&transcript, DISK_ONLY_SET)?;
    host_check(&disk, DISK_ONLY_SET)?;
    let transcript = boot(
        inputs,
        "fs-read",
        &disk,
        &[("alice", "fs-read", "exit", 0)],
        &[("alice", READ)],
        0,
    )?;
    from_disk(&transcript, "fs-read")?;
    // A `labels` that is no `Labels` value: refused whole, with the entry named.
    damage_labels(&disk.path)
        .map_err(|error| failure(format!("damaging /boot/labels: {error}"), None))?;
    host_check(&disk, "damaging /boot/labels")?;
    refused_at_init(
        inputs,
        &disk,
        "the damaged /boot",
        "the initial image on the disk (/boot): entry `labels`: ",
        None,
    )
}

/// Replaces `/boot/labels` with the `Labels` variant of `BootRecord` cut short.
fn damage_labels(path: &Path) -> Result<(), String> {
    let device = FileDevice::open(path).map_err(|error| error.to_string())?;
    let mut store = native::mount(device).map_err(|error| error.to_string())?;
    let name = |text: &str| Name::new(text).map_err(|error| error.to_string());
    let Entry::Directory(boot) = store
        .lookup(DirectoryId::ROOT, &name("boot")?)
        .map_err(|error| error.to_string())?
    else {
        return Err(String::from("/boot is a file"));
    };
    store
        .write_file(boot, &name("labels")?, &[0, 0, 0, 0, 9], 1)
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_selected_by_its_name_and_none_by_another() {
        for row in ROWS {
            assert!(
                select(Some(row.name))
                    .iter()
                    .any(|found| found.name == row.name)
            );
        }
        assert!(select(Some("no-such-row")).is_empty());
        assert_eq!(select(None).len(), ROWS.len());
    }

    #[test]
    fn the_moments_fall_in_their_range_and_differ() {
        let mut moments = Moments(0x1234_5679);
        let drawn: Vec<u64> = (0..100).map(|_| moments.next_millis(300, 4_000)).collect();
        assert!(drawn.iter().all(|moment| (300..4_000).contains(moment)));
        let mut distinct = drawn.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 50, "{drawn:?}");
    }

    #[test]
    fn the_last_number_of_a_prefix_is_found() {
        let transcript = Transcript {
            command: String::new(),
            lines: vec![
                (Duration::ZERO, "user alice: fs-churn: durable 4".into()),
                (Duration::ZERO, "user alice: fs-churn: durable 5".into()),
                (Duration::ZERO, "user bob: fs-churn: durable 9".into()),
                (
                    Duration::ZERO,
                    "user alice: fs-churn: verified 8 slots, newest none".into(),
                ),
            ],
            stderr: String::new(),
            end: RunEnd::Signal,
        };
        assert_eq!(
            last_number(&transcript, "alice", "fs-churn: durable"),
            Some(Some(5))
        );
        assert_eq!(
            last_number(&transcript, "alice", "fs-churn: verified 8 slots, newest"),
            Some(None)
        );
        assert_eq!(last_number(&transcript, "carol", "fs-churn: durable"), None);
    }
}
