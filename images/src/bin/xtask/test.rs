//! `cargo xtask test`: every host test, the image checks, every hosted row (the init
//! sets of the QEMU rows on the hosted platform), and every QEMU system test and
//! driver regression matrix row, counted into one closing line
//! `N passed, N failed, N skipped`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use ethos_abi::KernelTest;
use ethos_abi::drivers::Backend;
use ethos_core::initial_image;
use ethos_images::error::FileContext;
use ethos_images::inspect::{multiboot2_header, pvh_entry};
use ethos_images::platform::{self, Platform};
use ethos_images::{
    XtaskError, command, disk, host_set, kernel, prerequisites, target_directory, workspace_root,
};
use ethos_tests::harness::Verdict;
use ethos_tests::hosted::{self, HostedInputs};
use ethos_tests::system::{self, Inputs};
use ethos_tests::{host_pair, matrix, storage};

use crate::junit::{self, CargoLines, Case};

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct TestArguments {
    /// Run only the system tests (QEMU and hosted) whose name contains this text.
    filter: Option<String>,
    /// Skip the QEMU system tests (the hosted rows still run).
    #[arg(long, conflicts_with = "qemu_only")]
    host_only: bool,
    /// Skip the host tests (cargo test) and image checks.
    #[arg(long)]
    qemu_only: bool,
    /// Run only the driver regression matrix: the rows whose name, device model or
    /// backend contains this text (every row when no text is given).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    matrix: Option<String>,
    /// Run only part K of N of the selection (`--partition 2/3`): its units (the host
    /// tests, the image checks, then each row in order) dealt out in turn, so that the
    /// N partitions together run exactly the units of the whole selection, once each.
    #[arg(long, value_parser = Partition::parse)]
    partition: Option<Partition>,
    /// Print the units the selection (and partition) would run, one a line, and stop.
    #[arg(long)]
    list: bool,
    /// Also write the results as a JUnit XML file at this path.
    #[arg(long)]
    junit: Option<PathBuf>,
}

/// Part `index` (from 1) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Partition {
    index: usize,
    count: usize,
}

impl Partition {
    fn parse(text: &str) -> Result<Self, String> {
        let wrong = || format!("{text:?} is not K/N with 1 <= K <= N (e.g. 2/3)");
        let (index, count) = text.split_once('/').ok_or_else(wrong)?;
        let (index, count) = (
            index.trim().parse().map_err(|_| wrong())?,
            count.trim().parse().map_err(|_| wrong())?,
        );
        if index == 0 || index > count {
            return Err(wrong());
        }
        Ok(Self { index, count })
    }

    /// Whether the unit at `position` (from 0) of the whole selection is in this part.
    fn holds(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// The command line of images that only have to boot.
fn boot_test() -> String {
    system::command_line(Some(KernelTest::Boot), "")
}

/// What the features the rump kernel tests need (see rump-sys/README.md).
const RUMP_TEST_FEATURES: &str = "tmpfs,kernfs,ext2fs,inet6,shmif,sysproxy";

#[derive(Debug, Default)]
struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
    /// Every result, for the JUnit file.
    cases: Vec<Case>,
}

impl Tally {
    fn record(
        &mut self,
        suite: &str,
        name: &str,
        verdict: &Verdict,
        seconds: f64,
        log: Option<&Path>,
    ) {
        self.cases.push(Case {
            suite: suite.to_string(),
            name: name.to_string(),
            seconds,
            verdict: verdict.clone(),
            log: log.map(Path::to_path_buf),
        });
        match verdict {
            Verdict::Passed => {
                self.passed += 1;
                println!("PASS {name} ({seconds:.2} s)");
            }
            Verdict::Failed(reason) => {
                self.failed += 1;
                println!("FAIL {name}: {reason}");
                if let Some(log) = log {
                    println!("     serial log: {}", log.display());
                }
            }
            Verdict::Skipped(reason) => {
                self.skipped += 1;
                println!("SKIP {name}: {reason}");
            }
        }
    }
}

/// Adds the counts from cargo's `test result:` lines.
fn parse_cargo_result(line: &str, tally: &mut Tally) -> bool {
    let Some(rest) = line.trim().strip_prefix("test result: ") else {
        return false;
    };
    let count = |label: &str| {
        rest.split(';')
            .find_map(|part| part.trim().strip_suffix(label))
            .and_then(|number| number.trim().rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tally.passed += count(" passed");
    tally.failed += count(" failed");
    tally.skipped += count(" ignored");
    true
}

/// Runs one `cargo test` invocation, echoing its output and counting its results.
fn cargo_test(arguments: &[&str], tally: &mut Tally) -> Result<(), XtaskError> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(workspace_root())
        .arg("test")
        .args(arguments)
        .stdout(Stdio::piped());
    command::echo(&cargo);
    let mut child = cargo.spawn().map_err(|error| XtaskError::Spawn {
        program: "cargo".into(),
        error,
    })?;
    let mut saw_result = false;
    let mut cases = CargoLines::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            saw_result |= parse_cargo_result(&line, tally);
            // Counted by the result lines above; kept for the JUnit file.
            tally.cases.extend(cases.read(&line));
        }
    }
    let status = child.wait().map_err(|error| XtaskError::Spawn {
        program: "cargo".into(),
        error,
    })?;
    if !status.success() && !saw_result {
        // It did not get as far as running tests: a build failure counts as a failure.
        tally.record(
            "host",
            "cargo test (build)",
            &Verdict::Failed(format!("{status}")),
            0.0,
            None,
        );
    }
    Ok(())
}

fn host_tests(tally: &mut Tally) -> Result<(), XtaskError> {
    match std::env::var_os("RUMPKERNEL_DIR") {
        None => cargo_test(&["--workspace"], tally),
        Some(directory) => {
            println!(
                "RUMPKERNEL_DIR={}: rump kernel tests run",
                directory.to_string_lossy()
            );
            // The crates whose tests boot rump kernels run alone: built with the rest,
            // their features would link the rump kernel into every host binary.
            cargo_test(
                &[
                    "--workspace",
                    "--exclude",
                    "rump-sys",
                    "--exclude",
                    "ethos-fs-rump",
                ],
                tally,
            )?;
            cargo_test(&["-p", "rump-sys", "--features", RUMP_TEST_FEATURES], tally)?;
            cargo_test(&["-p", "ethos-fs-rump", "--features", "std"], tally)
        }
    }
}

fn check(name: &str, tally: &mut Tally, result: Result<String, String>) {
    match result {
        Ok(detail) => {
            tally.record("image", name, &Verdict::Passed, 0.0, None);
            println!("     {detail}");
        }
        Err(reason) => tally.record("image", name, &Verdict::Failed(reason), 0.0, None),
    }
}

/// Host checks of the built images.
fn image_checks(kernel: &Path, tally: &mut Tally) -> Result<(), XtaskError> {
    let bytes = std::fs::read(kernel).map_err(|error| XtaskError::File {
        path: kernel.to_path_buf(),
        error,
    })?;
    check(
        "image-pvh-note",
        tally,
        pvh_entry(&bytes)
            .map(|entry| format!("Xen PHYS32_ENTRY note: entry {entry:#x}"))
            .map_err(|error| error.to_string()),
    );
    check(
        "image-multiboot2-header",
        tally,
        multiboot2_header(&bytes)
            .map(|offset| format!("multiboot2 header at file offset {offset:#x}"))
            .map_err(|error| error.to_string()),
    );
    // The checks must be able to fail: damaged copies are rejected.
    let corrupted = {
        let mut without_note = bytes.clone();
        let note = without_note
            .windows(4)
            .position(|window| window == b"Xen\0");
        let mut without_header = bytes.clone();
        let header = multiboot2_header(&bytes).ok();
        match (note, header) {
            (Some(note), Some(header)) => {
                without_note[note] = b'x';
                without_header[header + 12] ^= 1;
                match (pvh_entry(&without_note), multiboot2_header(&without_header)) {
                    (Err(a), Err(b)) => Ok(format!("damaged copies rejected: {a}; {b}")),
                    (note, header) => Err(format!(
                        "a damaged image was accepted: note {note:?}, header {header:?}"
                    )),
                }
            }
            _ => Err("the intact image lacks a note or header to damage".to_string()),
        }
    };
    check("image-damage-detected", tally, corrupted);

    let xen_directory = target_directory().join("images").join("test-xen");
    let xen = platform::build_image(Platform::Xen, kernel, &boot_test(), &xen_directory)?;
    let config_check = xen
        .iter()
        .find(|artifact| artifact.path.extension().is_some_and(|e| e == "cfg"))
        .ok_or_else(|| "no xl config written".to_string())
        .and_then(|artifact| {
            let text = std::fs::read_to_string(&artifact.path).map_err(|e| e.to_string())?;
            let value = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(&format!("{key} = \"")))
                    .and_then(|rest| rest.strip_suffix('"'))
                    .map(str::to_string)
            };
            if value("type").as_deref() != Some("pvh") {
                return Err(format!("{}: type is not \"pvh\"", artifact.path.display()));
            }
            let named = value("kernel").ok_or("no kernel line")?;
            let named_bytes = std::fs::read(&named).map_err(|e| format!("kernel {named}: {e}"))?;
            pvh_entry(&named_bytes).map_err(|error| format!("kernel {named}: {error}"))?;
            Ok(format!(
                "{} names {named} (type \"pvh\")",
                artifact.path.display()
            ))
        });
    check("image-xen-config", tally, config_check);
    Ok(())
}

/// Prints a row's heading and commands, runs it and records its outcome.
fn run_row(
    tally: &mut Tally,
    kind: &'static str,
    name: &str,
    heading: &str,
    commands: &[String],
    run: impl FnOnce() -> system::Outcome,
) {
    println!("---- {heading}");
    for command in commands {
        println!("$ {command}");
    }
    let outcome = run();
    tally.record(
        kind,
        name,
        &outcome.verdict,
        outcome.elapsed.as_secs_f64(),
        outcome.log.as_deref(),
    );
}

/// The two hosts the host-pair rows boot ([`host_set::host_pair_plan`]), made with
/// the self-test kernel from the workspace description.
fn host_pair_kernels() -> Result<host_pair::HostPair, XtaskError> {
    let plan = host_set::host_pair_plan();
    println!("host pair: {}", plan.hosts.join(" and "));
    let [client, server] = host_set::make_pair(&plan)?;
    Ok(host_pair::HostPair {
        client,
        server,
        port: plan.port,
        log_directory: system::log_directory(&target_directory()).join("hosts"),
        rump_unavailable: (!kernel::kernel_backends().contains(&Backend::Rump))
            .then(|| matrix::rump_skip_reason(std::env::var_os("RUMPKERNEL_DIR").as_deref())),
    })
}

/// What the file system's rows boot: the production kernel, on disks made to the
/// workspace description's `[storage]` plan.
fn storage_inputs(kernel: &Path) -> Result<storage::StorageInputs, XtaskError> {
    let description = ethos_images::initial_image::LoadedDescription::load_default()?;
    let plan = description.disk_plan()?.ok_or_else(|| {
        XtaskError::Usage(String::from(
            "the file system's rows need a store: images/boot/image.toml has no [storage]",
        ))
    })?;
    let log_directory = system::log_directory(&target_directory());
    // The disk `cargo xtask image` makes, from the image the kernel embeds (the
    // production build packed it), with one init set more, which only the disk has.
    let packed = target_directory().join(ethos_images::initial_image::PACKED);
    let bytes = std::fs::read(&packed).at(&packed)?;
    let bad = |problem: String| XtaskError::BadImage {
        path: packed.clone(),
        problem,
    };
    let mut entries =
        initial_image::archive_entries(&bytes).map_err(|error| bad(error.to_string()))?;
    let set = initial_image::InitSetRecord {
        processes: storage::DISK_ONLY_SET_PROCESSES
            .iter()
            .map(|(user, program)| initial_image::InitProcessRecord {
                user: String::from(*user),
                program: String::from(*program),
            })
            .collect(),
    };
    let set = ethos_typesys::wire::encode(&set).map_err(|error| bad(error.to_string()))?;
    let set_path = format!("init/{}", storage::DISK_ONLY_SET);
    entries.push((set_path, &set));
    let boot_disk = log_directory.join("storage").join("boot-disk.img");
    disk::make_disk(&plan, &entries, &boot_disk)?;
    Ok(storage::StorageInputs {
        kernel: kernel.to_path_buf(),
        root: plan.root,
        boot_disk,
        log_directory,
        rump_unavailable: (!kernel::kernel_backends().contains(&Backend::Rump))
            .then(|| matrix::rump_skip_reason(std::env::var_os("RUMPKERNEL_DIR").as_deref())),
    })
}

/// What one run executes, after the filters and the partition.
struct Selection {
    host_tests: bool,
    image_checks: bool,
    hosted: Vec<hosted::HostedTest>,
    system: Vec<system::SystemTest>,
    host_pairs: Vec<host_pair::HostPairRow>,
    storage: Vec<storage::StorageRow>,
    matrix: Vec<matrix::MatrixRow>,
}

impl Selection {
    fn new(arguments: &TestArguments) -> Self {
        let filter = arguments.filter.as_deref();
        let hosted = match arguments.matrix {
            Some(_) => Vec::new(),
            None => hosted::select(filter),
        };
        let (system, host_pairs, storage, matrix) =
            match (arguments.host_only, arguments.matrix.as_deref()) {
                (true, _) => (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
                (false, Some(text)) => (
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    matrix::select(Some(text).filter(|text| !text.is_empty())),
                ),
                (false, None) => (
                    system::select(filter),
                    host_pair::select(filter),
                    storage::select(filter),
                    matrix::select(filter),
                ),
            };
        let mut selection = Self {
            host_tests: !arguments.qemu_only,
            image_checks: !arguments.qemu_only,
            hosted,
            system,
            host_pairs,
            storage,
            matrix,
        };
        if let Some(partition) = arguments.partition {
            selection.keep_part(partition);
        }
        selection
    }

    /// Keeps the units of one part: positions counted over the whole selection, in
    /// the order the run takes them.
    fn keep_part(&mut self, partition: Partition) {
        let mut position = 0;
        let mut kept = || {
            position += 1;
            partition.holds(position - 1)
        };
        self.host_tests = self.host_tests && kept();
        self.image_checks = self.image_checks && kept();
        self.hosted.retain(|_| kept());
        self.system.retain(|_| kept());
        self.host_pairs.retain(|_| kept());
        self.storage.retain(|_| kept());
        self.matrix.retain(|_| kept());
    }

    /// Each unit's kind and name, in run order.
    fn units(&self) -> Vec<String> {
        let mut units = Vec::new();
        if self.host_tests {
            units.push("host cargo test --workspace".to_string());
        }
        if self.image_checks {
            units.push("image checks".to_string());
        }
        units.extend(self.hosted.iter().map(|row| format!("hosted {}", row.name)));
        units.extend(self.system.iter().map(|row| format!("qemu {}", row.name)));
        units.extend(
            self.host_pairs
                .iter()
                .map(|row| format!("qemu {}", row.name)),
        );
        units.extend(self.storage.iter().map(|row| format!("qemu {}", row.name)));
        units.extend(self.matrix.iter().map(|row| format!("matrix {}", row.name)));
        units
    }
}

pub(crate) fn test(arguments: &TestArguments) -> Result<ExitCode, XtaskError> {
    refuse_empty_selection(arguments)?;
    let selection = Selection::new(arguments);
    let units = selection.units();
    if units.is_empty() {
        return Err(XtaskError::Usage(format!(
            "partition {} of this selection holds nothing: it has {} units",
            arguments
                .partition
                .map_or(String::new(), |p| format!("{}/{}", p.index, p.count)),
            Selection::new(&TestArguments {
                partition: None,
                ..arguments.clone()
            })
            .units()
            .len()
        )));
    }
    if arguments.list {
        for unit in &units {
            println!("{unit}");
        }
        println!("{} units", units.len());
        return Ok(ExitCode::SUCCESS);
    }
    let Selection {
        host_tests: run_host_tests,
        image_checks: run_image_checks,
        hosted: hosted_rows,
        system: rows,
        host_pairs,
        storage: storage_rows,
        matrix: matrix_rows,
    } = selection;
    let mut tally = Tally::default();
    let qemu_rows = !rows.is_empty()
        || !matrix_rows.is_empty()
        || !host_pairs.is_empty()
        || !storage_rows.is_empty();
    if qemu_rows {
        prerequisites::ensure(&[prerequisites::QEMU])?;
        prerequisites::ensure(&prerequisites::GRUB_ISO)?;
    }
    // The kernel users boot first, then the one with the in-kernel tests: both are
    // kept, and rows say which they boot.
    let production_kernel = kernel::build_kernel(kernel::Flavour::Production)?;
    let build = kernel::build(kernel::Flavour::Selftest)?;
    let kernel = build.kernel;
    if run_host_tests {
        host_tests(&mut tally)?;
    }
    if run_image_checks {
        image_checks(&kernel, &mut tally)?;
    }
    if !hosted_rows.is_empty() {
        let inputs = HostedInputs {
            runner: kernel::build_hosted_runner()?,
            initial_image: build.initial_image.clone(),
            log_directory: system::log_directory(&target_directory()),
        };
        for row in &hosted_rows {
            println!("---- {}: {}", row.name, row.about);
            println!("$ {}", row.display(&inputs));
            let outcome = row.run(&inputs);
            tally.record(
                "hosted",
                &row.name,
                &outcome.verdict,
                outcome.elapsed.as_secs_f64(),
                outcome.log.as_deref(),
            );
        }
    }
    if qemu_rows {
        let iso_directory = target_directory().join("images").join("test-metal");
        let boot_iso =
            platform::build_image(Platform::Metal, &kernel, &boot_test(), &iso_directory)?
                .into_iter()
                .next()
                .map(|artifact| artifact.path)
                .unwrap_or_else(|| iso_directory.join("ethos.iso"));
        let inputs = Inputs {
            kernel: kernel.clone(),
            production_kernel,
            boot_iso,
            log_directory: system::log_directory(&target_directory()),
            initial_image_counts: build.image_counts.metrics().to_vec(),
            rump_unavailable: (!kernel::kernel_backends().contains(&Backend::Rump))
                .then(|| matrix::rump_skip_reason(std::env::var_os("RUMPKERNEL_DIR").as_deref())),
        };
        for row in rows {
            println!("---- {}: {}", row.name, row.about);
            println!("$ {}", row.config(&inputs).display());
            let outcome = row.run(&inputs);
            tally.record(
                "qemu",
                row.name,
                &outcome.verdict,
                outcome.elapsed.as_secs_f64(),
                outcome.log.as_deref(),
            );
        }
        if !host_pairs.is_empty() {
            let pair = host_pair_kernels()?;
            for row in &host_pairs {
                let heading = format!("{}: {}", row.name, row.about);
                let commands = row.display(&pair);
                run_row(&mut tally, "qemu", row.name, &heading, &commands, || {
                    row.run(&pair)
                });
            }
        }
        if !storage_rows.is_empty() {
            let inputs = storage_inputs(&inputs.production_kernel)?;
            for row in &storage_rows {
                let heading = format!("{}: {}", row.name, row.about);
                let commands = row.display(&inputs);
                run_row(&mut tally, "qemu", row.name, &heading, &commands, || {
                    row.run(&inputs)
                });
            }
        }
        if matrix_rows
            .iter()
            .any(|row| row.scenario == matrix::Scenario::HostPing)
        {
            // Without the tools the host-ping rows skip themselves, naming what is missing.
            if let Err(error) = prerequisites::ensure(&prerequisites::HOST_NETWORK) {
                println!("the host-ping rows cannot run here: {error}");
            }
        }
        for row in matrix_rows {
            let heading = format!(
                "{}: {} | backend {} | test={}",
                row.name,
                row.device_model,
                row.backend_names(),
                row.test.name()
            );
            let commands = row.display(&inputs);
            run_row(&mut tally, "matrix", row.name, &heading, &commands, || {
                row.run(&inputs)
            });
        }
    }
    if let Some(path) = &arguments.junit {
        write_junit(path, &tally)?;
    }
    println!(
        "{} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.skipped
    );
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes the JUnit file, saying where, and whether its cases add up to the tally
/// (cargo's per-test lines against its result lines).
fn write_junit(path: &Path, tally: &Tally) -> Result<(), XtaskError> {
    let commit = Command::new("git")
        .current_dir(workspace_root())
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    junit::write(path, &tally.cases, &commit).map_err(|error| XtaskError::File {
        path: path.to_path_buf(),
        error,
    })?;
    let count = |wanted: fn(&Verdict) -> bool| {
        tally
            .cases
            .iter()
            .filter(|case| wanted(&case.verdict))
            .count() as u64
    };
    let cases = (
        count(|verdict| matches!(verdict, Verdict::Passed)),
        count(|verdict| matches!(verdict, Verdict::Failed(_))),
        count(|verdict| matches!(verdict, Verdict::Skipped(_))),
    );
    println!(
        "JUnit results: {} ({} test cases)",
        path.display(),
        tally.cases.len()
    );
    if cases != (tally.passed, tally.failed, tally.skipped) {
        println!(
            "note: the JUnit cases ({} passed, {} failed, {} skipped) differ from the count \
             below, which comes from cargo's result lines",
            cases.0, cases.1, cases.2
        );
    }
    Ok(())
}

/// A filter that selects no test is a mistake (a typo, a renamed row), never a run
/// of nothing that passes: it is refused before anything is built.
fn refuse_empty_selection(arguments: &TestArguments) -> Result<(), XtaskError> {
    let matrix_filter = arguments.matrix.as_deref().filter(|text| !text.is_empty());
    let (selected, wanted) = match (&arguments.matrix, arguments.filter.as_deref()) {
        (Some(_), _) => match matrix_filter {
            Some(filter) => (matrix::select(Some(filter)).len(), filter),
            None => return Ok(()),
        },
        (None, Some(filter)) => (
            system::select(Some(filter)).len()
                + matrix::select(Some(filter)).len()
                + host_pair::select(Some(filter)).len()
                + storage::select(Some(filter)).len()
                + hosted::select(Some(filter)).len(),
            filter,
        ),
        (None, None) => return Ok(()),
    };
    if selected == 0 {
        let kind = if arguments.matrix.is_some() {
            "matrix row"
        } else {
            "system test, host-pair row, matrix row or hosted row"
        };
        return Err(XtaskError::Usage(format!(
            "no {kind} matches {wanted:?}; a filter is a substring of a name (or, for the \
             matrix, of a device model or backend)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(filter: Option<&str>, matrix: Option<&str>) -> TestArguments {
        TestArguments {
            filter: filter.map(str::to_string),
            host_only: false,
            qemu_only: false,
            matrix: matrix.map(str::to_string),
            partition: None,
            list: false,
            junit: None,
        }
    }

    #[test]
    fn a_filter_that_selects_nothing_is_refused() {
        let error = refuse_empty_selection(&arguments(Some("no-such-test-anywhere"), None))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no system test, host-pair row, matrix row or hosted row matches"),
            "{error}"
        );
        assert!(refuse_empty_selection(&arguments(None, Some("no-such-model"))).is_err());
        assert!(refuse_empty_selection(&arguments(Some("boot"), None)).is_ok());
        assert!(refuse_empty_selection(&arguments(None, Some("rump"))).is_ok());
        assert!(refuse_empty_selection(&arguments(None, Some(""))).is_ok());
        assert!(refuse_empty_selection(&arguments(None, None)).is_ok());
    }

    #[test]
    fn partitions_are_parsed_strictly() {
        assert_eq!(
            Partition::parse("2/3"),
            Ok(Partition { index: 2, count: 3 })
        );
        for wrong in ["0/3", "4/3", "3", "a/b", "1/0", "/", "-1/2"] {
            assert!(Partition::parse(wrong).is_err(), "{wrong} was accepted");
        }
    }

    /// The parts of a whole run, and of a filtered one, together hold each of its
    /// units exactly once.
    #[test]
    fn partitions_together_are_the_whole_selection() {
        for (filter, matrix) in [(None, None), (Some("boot"), None), (None, Some(""))] {
            let whole = Selection::new(&arguments(filter, matrix)).units();
            assert!(whole.len() > 3, "{filter:?} {matrix:?}: {whole:?}");
            for count in 1..=4 {
                let mut together = Vec::new();
                for index in 1..=count {
                    let mut part = arguments(filter, matrix);
                    part.partition = Some(Partition { index, count });
                    let units = Selection::new(&part).units();
                    assert!(
                        units.len().abs_diff(whole.len() / count) <= 1,
                        "part {index}/{count} has {} of {} units",
                        units.len(),
                        whole.len()
                    );
                    together.extend(units);
                }
                let mut sorted_whole = whole.clone();
                sorted_whole.sort();
                together.sort();
                assert_eq!(together, sorted_whole, "{count} parts of {filter:?}");
            }
        }
    }

    #[test]
    fn cargo_result_lines_are_counted() {
        let mut tally = Tally::default();
        assert!(parse_cargo_result(
            "test result: ok. 26 passed; 0 failed; 7 ignored; 0 measured; 0 filtered out; finished in 0.12s",
            &mut tally
        ));
        assert!(parse_cargo_result(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
            &mut tally
        ));
        assert!(!parse_cargo_result("running 3 tests", &mut tally));
        assert_eq!((tally.passed, tally.failed, tally.skipped), (29, 2, 7));
    }
}
