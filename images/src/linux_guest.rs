//! The Linux guest the benchmarks set beside Ethos: Debian's kernel, booted under
//! the same emulator and machine, with a static C program as its `/init`.
//!
//! The kernel comes from Debian's `linux-image-amd64` package: its versioned
//! dependency (`linux-image-<version>-amd64`) is fetched with `apt-get download`
//! and unpacked with `dpkg-deb -x`, never installed, and only its `vmlinuz` is kept
//! under `target/linux-guest/`. The program (`images/linux-guest/init.c`) is
//! compiled with `gcc -static -O2` and packed alone into an initramfs, a `newc`
//! cpio archive written with the `cpio` crate. Debian builds virtio as modules: the
//! drivers baseline (`images/linux-guest/drivers.c`) gets the few it needs, kept
//! from the same package in load order (each module's `depends=`), in its own
//! initramfs; the network baseline (`images/linux-guest/net.c`) gets them and
//! `virtio_mmio`, for microvm's devices, in its own; the file system baseline
//! (`images/linux-guest/fs.c`) gets `virtio_mmio`, `virtio_blk` and ext4 with what
//! it needs, and nothing else. All are compiled with `images/linux-guest/guest.c`,
//! which loads the modules and does what else they share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::error::FileContext;
use crate::{XtaskError, command, prerequisites, target_directory, workspace_root};

/// Debian's package that always depends on the current kernel image.
pub const METAPACKAGE: &str = "linux-image-amd64";

/// The isa-debug-exit port and codes `/init` ends the run with: the Ethos kernel's.
const EXIT_PORT: u16 = ethos_abi::exit::DEBUG_EXIT_PORT;

/// Timed null calls and round trips per payload size: the counts of Ethos's
/// `bench-client` (`NULL_SAMPLES`, `ROUND_TRIP_SAMPLES` in
/// images/programs/system-tests/src/bounce.rs). The benchmark checks the round trip
/// count against the one `bench-client` prints.
pub const NULL_SAMPLES: u32 = 10_000;
pub const ROUND_TRIP_SAMPLES: u32 = 2_000;

/// Where the kernel, the program and the initramfs are kept.
pub fn directory() -> PathBuf {
    target_directory().join("linux-guest")
}

/// The versioned kernel package named by `apt-cache depends linux-image-amd64`.
pub fn versioned_dependency(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends:")?.trim();
        let name = name.trim_start_matches('<').trim_end_matches('>');
        (name.starts_with("linux-image-") && name.ends_with("-amd64") && name != METAPACKAGE)
            .then(|| name.to_string())
    })
}

/// What to tell someone whose machine cannot fetch `package`.
fn fetch_failed(step: &str, package: &str, why: &str) -> XtaskError {
    XtaskError::Prerequisite(format!(
        "the Linux guest kernel: {step} failed ({why}); it needs Debian's package lists \
         (`apt-get update`) and then `apt-get download {package}` to succeed here \
         (the package is unpacked with `dpkg-deb -x`, not installed)"
    ))
}

/// The modules the drivers baseline loads (Debian builds virtio as modules), with
/// what they depend on: the PCI transport, the disk and the network device.
pub const DRIVER_MODULES: [&str; 3] = ["virtio_pci", "virtio_blk", "virtio_net"];

/// The modules the network baseline loads: microvm's memory-mapped transport (its
/// devices are described in the machine's ACPI tables) and the network device.
pub const NET_MODULES: [&str; 2] = ["virtio_mmio", "virtio_net"];

/// The modules the file system baseline loads: microvm's transport, the disk, and
/// ext4 (which needs `jbd2`, `mbcache` and `crc16` by its `depends=`).
pub const FS_MODULES: [&str; 3] = ["virtio_mmio", "virtio_blk", "ext4"];

/// Modules ext4 asks the crypto API for by name rather than by `depends=`: the
/// CRC-32C of its metadata checksums (on in every ext4 `mke2fs` makes today), in C
/// and with SSE 4.2, of which the kernel takes the fastest. Kept when the package
/// has them (a kernel with them built in needs none).
pub const FS_REQUESTED_MODULES: [&str; 2] = ["crc32c_generic", "crc32c_intel"];

/// Every module kept from the package: the baselines' and what they depend on.
fn kept_modules() -> Vec<&'static str> {
    let mut kept: Vec<&str> = Vec::new();
    for name in DRIVER_MODULES
        .iter()
        .chain(&NET_MODULES)
        .chain(&FS_MODULES)
        .chain(&FS_REQUESTED_MODULES)
    {
        if !kept.contains(name) {
            kept.push(name);
        }
    }
    kept
}

/// What a modules directory's completion mark holds: the modules asked for, so a
/// directory kept for a shorter list is fetched again.
fn modules_mark() -> String {
    kept_modules().join(",")
}

/// Where the modules of `version` are kept, in load order (`NN-name.ko`).
fn modules_directory(version: &str) -> PathBuf {
    directory().join(format!("modules-{version}"))
}

/// The names a module depends on, from the `depends=` field of its `.modinfo`.
pub fn module_depends(module: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    module
        .windows(key.len())
        .position(|window| window == key)
        .map(|at| {
            let rest = &module[at + key.len()..];
            let end = rest
                .iter()
                .position(|&byte| byte == 0)
                .unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|name| !name.is_empty())
                .map(|name| name.replace('-', "_"))
                .collect()
        })
        .unwrap_or_default()
}

/// `wanted` and everything they depend on, each after its dependencies, from the
/// modules under `tree` (a `lib/modules/VERSION` directory); those of `wanted` in
/// [`FS_REQUESTED_MODULES`] only when the tree has them.
fn modules_in_load_order(tree: &Path, wanted: &[&str]) -> Result<Vec<PathBuf>, XtaskError> {
    fn walk(directory: &Path, found: &mut std::collections::BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if let Some(name) = path.file_name().and_then(|name| name.to_str())
                && let Some(stem) = name.strip_suffix(".ko")
            {
                found.insert(stem.replace('-', "_"), path);
            }
        }
    }
    fn visit(
        name: &str,
        found: &std::collections::BTreeMap<String, PathBuf>,
        order: &mut Vec<String>,
        chain: &mut Vec<String>,
    ) -> Result<(), String> {
        if order.iter().any(|done| done == name) {
            return Ok(());
        }
        if chain.iter().any(|open| open == name) {
            return Err(format!(
                "modules depend on each other in a circle at {name}"
            ));
        }
        let path = found
            .get(name)
            .ok_or_else(|| format!("no module {name}.ko in the package"))?;
        let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
        chain.push(name.to_string());
        for depend in module_depends(&bytes) {
            visit(&depend, found, order, chain)?;
        }
        chain.pop();
        order.push(name.to_string());
        Ok(())
    }
    let mut found = std::collections::BTreeMap::new();
    walk(tree, &mut found);
    let mut order = Vec::new();
    for name in wanted {
        if FS_REQUESTED_MODULES.contains(name) && !found.contains_key(*name) {
            continue;
        }
        visit(name, &found, &mut order, &mut Vec::new())
            .map_err(|why| XtaskError::Prerequisite(format!("the Linux guest's modules: {why}")))?;
    }
    Ok(order.iter().map(|name| found[name].clone()).collect())
}

/// The kernel image fetched last into `directory`, if any.
fn cached_kernel(directory: &Path) -> Option<PathBuf> {
    std::fs::read_dir(directory)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("vmlinuz-"))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .max()
        .map(|(_, path)| path)
}

/// The Debian kernel image (a bzImage), fetched and unpacked on first use.
pub fn kernel() -> Result<PathBuf, XtaskError> {
    let directory = directory();
    std::fs::create_dir_all(&directory).at(&directory)?;
    let mut depends = Command::new("apt-cache");
    depends.args(["depends", METAPACKAGE]);
    let named = command::output(&mut depends)
        .map_err(|error| error.to_string())
        .and_then(|output| {
            versioned_dependency(&String::from_utf8_lossy(&output.stdout))
                .ok_or_else(|| "it names no linux-image-<version>-amd64".to_string())
        });
    let package = match named {
        Ok(package) => package,
        Err(why) => {
            // Without package lists (offline, say), a kernel fetched before will do.
            if let Some(kernel) = cached_kernel(&directory) {
                println!(
                    "`apt-cache depends {METAPACKAGE}` failed ({why}); using {}",
                    kernel.display()
                );
                return Ok(kernel);
            }
            return Err(fetch_failed("`apt-cache depends`", METAPACKAGE, &why));
        }
    };
    let version = package
        .strip_prefix("linux-image-")
        .unwrap_or(&package)
        .to_string();
    let kernel = directory.join(format!("vmlinuz-{version}"));
    let modules = modules_directory(&version);
    let complete = std::fs::read_to_string(modules.join(MODULES_COMPLETE))
        .is_ok_and(|mark| mark == modules_mark());
    if kernel.is_file() && complete {
        return Ok(kernel);
    }
    let started = Instant::now();
    let download = directory.join("download");
    // A download cut short leaves a partial file here; start clean.
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download).at(&download)?;
    command::run(
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(&download),
    )
    .map_err(|error| fetch_failed("`apt-get download`", &package, &error.to_string()))?;
    let deb = std::fs::read_dir(&download)
        .at(&download)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "deb"))
        .ok_or_else(|| fetch_failed("`apt-get download`", &package, "no .deb was written"))?;
    let size = std::fs::metadata(&deb).at(&deb)?.len();
    let unpacked = download.join("unpacked");
    command::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let image = unpacked.join("boot").join(format!("vmlinuz-{version}"));
    std::fs::copy(&image, &kernel).at(&image)?;
    // Of the modules (some 400 MB unpacked) only the baselines' are kept.
    let tree = unpacked.join("lib").join("modules").join(&version);
    let _ = std::fs::remove_dir_all(&modules);
    std::fs::create_dir_all(&modules).at(&modules)?;
    for (index, module) in modules_in_load_order(&tree, &kept_modules())?
        .iter()
        .enumerate()
    {
        let name = module.file_name().unwrap_or_default().to_string_lossy();
        let kept = modules.join(format!("{index:02}-{name}"));
        std::fs::copy(module, &kept).at(module)?;
    }
    std::fs::write(modules.join(MODULES_COMPLETE), modules_mark()).at(&modules)?;
    std::fs::remove_dir_all(&download).at(&download)?;
    println!(
        "fetched {package}: {:.1} MB package, {:.1} MB kernel, in {:.1} s",
        size as f64 / 1e6,
        std::fs::metadata(&kernel).at(&kernel)?.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(kernel)
}

/// Marks a modules directory whose copying finished.
const MODULES_COMPLETE: &str = ".complete";

/// The modules kept beside `kernel` (a `vmlinuz-VERSION` this module fetched), in
/// load order.
pub fn driver_modules(kernel: &Path) -> Result<Vec<PathBuf>, XtaskError> {
    let version = kernel
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("vmlinuz-"))
        .unwrap_or_default();
    let modules = modules_directory(version);
    let complete = std::fs::read_to_string(modules.join(MODULES_COMPLETE))
        .is_ok_and(|mark| mark == modules_mark());
    if !complete {
        return Err(XtaskError::Prerequisite(format!(
            "the Linux guest's modules are not in {} (fetched without package lists?); \
             run `apt-get update` so the kernel package can be fetched again",
            modules.display()
        )));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&modules)
        .at(&modules)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "ko"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// What compiles a static C program: gcc and the static C library.
const STATIC_C: [prerequisites::Tool; 2] = [
    prerequisites::Tool {
        program: "gcc",
        package: "gcc",
    },
    prerequisites::Tool {
        program: "/usr/lib/x86_64-linux-gnu/libc.a",
        package: "libc6-dev",
    },
];

/// Compiles `images/linux-guest/SOURCES` static into `target/linux-guest/OUTPUT`,
/// with the exit port and codes and `defines` (`NAME=VALUE`).
fn compile_init(sources: &[&str], output: &str, defines: &[String]) -> Result<PathBuf, XtaskError> {
    prerequisites::ensure(&STATIC_C)?;
    let sources = sources
        .iter()
        .map(|source| workspace_root().join("images/linux-guest").join(source));
    let output = directory().join(output);
    std::fs::create_dir_all(directory()).at(directory())?;
    let success = ethos_abi::ExitCode::Success.port_value();
    let failure = ethos_abi::ExitCode::Failure.port_value();
    command::run(
        Command::new("gcc")
            .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror"])
            .arg(format!("-DEXIT_PORT={EXIT_PORT:#x}"))
            .arg(format!("-DEXIT_SUCCESS_CODE={success:#x}"))
            .arg(format!("-DEXIT_FAILURE_CODE={failure:#x}"))
            .args(defines.iter().map(|define| format!("-D{define}")))
            .arg("-o")
            .arg(&output)
            .args(sources),
    )?;
    Ok(output)
}

/// What the guests that load `/modules` (drivers and network baselines) share:
/// their start and end, the module loading and the interface calls.
const MODULE_GUEST: &str = "guest.c";

/// Compiles `/init` with the constants it shares with the Ethos side.
pub fn build_init() -> Result<PathBuf, XtaskError> {
    compile_init(
        &["init.c"],
        "init",
        &[
            format!("NULL_SAMPLES={NULL_SAMPLES}"),
            format!("ROUND_TRIP_SAMPLES={ROUND_TRIP_SAMPLES}"),
        ],
    )
}

/// Compiles the drivers baseline's `/init` (`images/linux-guest/drivers.c`) with the
/// constants of Ethos's UDP echo and block tests.
pub fn build_drivers_init() -> Result<PathBuf, XtaskError> {
    let stop = String::from_utf8_lossy(ethos_abi::drivers::UDP_ECHO_STOP);
    compile_init(
        &["drivers.c", MODULE_GUEST],
        "drivers-init",
        &[
            format!("UDP_ECHO_PORT={}", ethos_abi::drivers::UDP_ECHO_PORT),
            format!("UDP_ECHO_STOP=\"{stop}\""),
            format!(
                "BLOCK_PATTERN_SEED=UINT64_C({:#x})",
                ethos_abi::drivers::BLOCK_PATTERN_SEED
            ),
            format!("CHUNK_BYTES={DRIVER_CHUNK_BYTES}"),
        ],
    )
}

/// The chunk Ethos's block test writes and reads at a time
/// (`ethos_devices::block_check::CHUNK_BYTES`).
pub const DRIVER_CHUNK_BYTES: usize = 64 * 1024;

/// The drivers baseline's initramfs: its `/init` and the modules kept beside
/// `kernel`, as `/modules/NN-name.ko` in load order.
pub fn drivers_initramfs(kernel: &Path) -> Result<PathBuf, XtaskError> {
    let init = build_drivers_init()?;
    with_modules(kernel, &init, "drivers-initramfs.cpio", None)
}

/// The name a kept module is loaded as: `NN-crc32c-intel.ko` is `crc32c_intel`.
fn kept_module_name(path: &Path) -> String {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let stem = file.strip_suffix(".ko").unwrap_or(&file);
    let name = stem.split_once('-').map_or(stem, |(_, name)| name);
    name.replace('-', "_")
}

/// Of the kept `modules` (in load order), those `wanted` needs: the wanted and,
/// through their `depends=`, what they need, still in load order.
fn needed_modules(modules: Vec<PathBuf>, wanted: &[&str]) -> Result<Vec<PathBuf>, XtaskError> {
    let mut needed: std::collections::BTreeSet<String> =
        wanted.iter().map(|name| name.to_string()).collect();
    // Each module comes after what it depends on, so one pass from the end finds
    // every dependency before its own turn.
    for module in modules.iter().rev() {
        if needed.contains(&kept_module_name(module)) {
            needed.extend(module_depends(&std::fs::read(module).at(module)?));
        }
    }
    Ok(modules
        .into_iter()
        .filter(|module| needed.contains(&kept_module_name(module)))
        .collect())
}

/// An initramfs named `name` holding `init` and the modules kept beside `kernel`
/// (with `only`, just those these need).
fn with_modules(
    kernel: &Path,
    init: &Path,
    name: &str,
    only: Option<&[&str]>,
) -> Result<PathBuf, XtaskError> {
    use cpio::NewcBuilder;
    use std::io::Cursor;
    let mut entries = base_entries(&std::fs::read(init).at(init)?);
    entries.push((
        NewcBuilder::new("modules").mode(0o040_755),
        Cursor::new(Vec::new()),
    ));
    let mut modules = driver_modules(kernel)?;
    if let Some(wanted) = only {
        modules = needed_modules(modules, wanted)?;
    }
    for module in modules {
        let name = module.file_name().unwrap_or_default().to_string_lossy();
        entries.push((
            NewcBuilder::new(&format!("modules/{name}")).mode(0o100_644),
            Cursor::new(std::fs::read(&module).at(&module)?),
        ));
    }
    let path = directory().join(name);
    let file = std::fs::File::create(&path).at(&path)?;
    cpio::write_cpio(entries.into_iter(), std::io::BufWriter::new(file))
        .map(drop)
        .at(&path)?;
    Ok(path)
}

/// The round trips per payload size, the bulk's values and the payload sizes of
/// Ethos's `net-bench-client` (images/programs/system-tests/src/net_bench.rs), which
/// the network baseline's `/init` is built with; the benchmark checks them against
/// what both sides print.
pub const NET_ROUND_TRIPS: u32 = 300;
pub const NET_BULK_VALUES: u32 = 1000;
pub const NET_SMALL_PAYLOAD: u32 = 64;
pub const NET_LARGE_PAYLOAD: u32 = 4096;

/// The network baseline's `/init` (`images/linux-guest/net.c`), with the UDP port
/// the Ethos hosts' tunnel uses.
pub fn build_net_init(port: u16) -> Result<PathBuf, XtaskError> {
    compile_init(
        &["net.c", MODULE_GUEST],
        "net-init",
        &[
            format!("NET_PORT={port}"),
            format!("ROUND_TRIPS={NET_ROUND_TRIPS}"),
            format!("BULK_VALUES={NET_BULK_VALUES}"),
            format!("SMALL_PAYLOAD={NET_SMALL_PAYLOAD}"),
            format!("LARGE_PAYLOAD={NET_LARGE_PAYLOAD}"),
        ],
    )
}

/// The network baseline's initramfs: its `/init` and the modules kept beside
/// `kernel`, as `/modules/NN-name.ko` in load order (those it does not need load
/// and find no device).
pub fn net_initramfs(kernel: &Path, port: u16) -> Result<PathBuf, XtaskError> {
    let init = build_net_init(port)?;
    with_modules(kernel, &init, "net-initramfs.cpio", None)
}

/// The timed calls of each kind, the sizes and the files the small writes replace
/// of Ethos's `fs-bench` (images/programs/system-tests/src/fs_bench.rs), which the
/// file system baseline's `/init` is built with; the benchmark checks them against
/// what both sides print.
pub const FS_SAMPLES: u32 = 200;
pub const FS_LARGE_SAMPLES: u32 = 8;
pub const FS_SMALL_VALUE: u32 = 4096;
pub const FS_LARGE_VALUE: u32 = 1 << 20;
pub const FS_REPLACED_FILES: u32 = 4;

/// The file system baseline's `/init` (`images/linux-guest/fs.c`).
pub fn build_fs_init() -> Result<PathBuf, XtaskError> {
    compile_init(
        &["fs.c", MODULE_GUEST],
        "fs-init",
        &[
            format!("SAMPLES={FS_SAMPLES}"),
            format!("LARGE_SAMPLES={FS_LARGE_SAMPLES}"),
            format!("SMALL_VALUE={FS_SMALL_VALUE}"),
            format!("LARGE_VALUE={FS_LARGE_VALUE}"),
            format!("REPLACED_FILES={FS_REPLACED_FILES}"),
        ],
    )
}

/// The file system baseline's initramfs: its `/init` and, as `/modules/NN-name.ko`
/// in load order, the modules of [`FS_MODULES`] and [`FS_REQUESTED_MODULES`] kept
/// beside `kernel` and what they depend on.
pub fn fs_initramfs(kernel: &Path) -> Result<PathBuf, XtaskError> {
    let init = build_fs_init()?;
    let wanted: Vec<&str> = FS_MODULES
        .iter()
        .chain(&FS_REQUESTED_MODULES)
        .copied()
        .collect();
    with_modules(kernel, &init, "fs-initramfs.cpio", Some(&wanted))
}

/// What makes the ext4 file system of the file system baseline on the host.
pub const MKE2FS: prerequisites::Tool = prerequisites::Tool {
    program: "/usr/sbin/mke2fs",
    package: "e2fsprogs",
};

/// Makes a new disk image of `bytes` at `path` holding an empty ext4 file system:
/// 4 KiB blocks (what a larger disk gets; `mke2fs` would give a disk this small
/// 1 KiB ones), its inode tables and journal written now rather than by the guest's
/// kernel in the background during the measurement.
pub fn make_ext4_disk(path: &Path, bytes: u64) -> Result<(), XtaskError> {
    prerequisites::ensure(&[MKE2FS])?;
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path)
        .and_then(|file| file.set_len(bytes))
        .at(path)?;
    command::run(
        Command::new(MKE2FS.program)
            .args([
                "-q",
                "-F",
                "-t",
                "ext4",
                "-b",
                "4096",
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0",
            ])
            .arg(path),
    )
}

/// `/dev`, `/dev/console` and `/init`, as every initramfs here starts.
fn base_entries(init: &[u8]) -> Vec<(cpio::NewcBuilder, std::io::Cursor<Vec<u8>>)> {
    use cpio::NewcBuilder;
    use std::io::Cursor;
    vec![
        (
            NewcBuilder::new("dev").mode(0o040_755),
            Cursor::new(Vec::new()),
        ),
        (
            NewcBuilder::new("dev/console")
                .mode(0o020_600)
                .rdev_major(5)
                .rdev_minor(1),
            Cursor::new(Vec::new()),
        ),
        (
            NewcBuilder::new("init").mode(0o100_755),
            Cursor::new(init.to_vec()),
        ),
    ]
}

/// An initramfs holding `init` as `/init` (mode 0755) and a `/dev/console` node.
pub fn write_initramfs(init: &[u8], output: impl std::io::Write) -> std::io::Result<()> {
    cpio::write_cpio(base_entries(init).into_iter(), output).map(drop)
}

/// Builds `/init` and packs it: the path of the initramfs.
pub fn initramfs() -> Result<PathBuf, XtaskError> {
    let init = build_init()?;
    let bytes = std::fs::read(&init).at(&init)?;
    let path = directory().join("initramfs.cpio");
    let file = std::fs::File::create(&path).at(&path)?;
    write_initramfs(&bytes, std::io::BufWriter::new(file)).at(&path)?;
    Ok(path)
}

/// The TSC rate the guest is told, in kHz: under `-icount shift=0` the guest's TSC
/// is its instruction counter, one tick a nanosecond.
pub const ICOUNT_TSC_KHZ: u64 = 1_000_000;

/// This host's TSC rate in kHz, which a guest's TSC runs at under TCG without
/// `-icount` (and under KVM without TSC scaling), measured by
/// `images/linux-guest/tsc-rate.c`.
pub fn host_tsc_khz() -> Result<u64, XtaskError> {
    prerequisites::ensure(&STATIC_C)?;
    let source = workspace_root().join("images/linux-guest/tsc-rate.c");
    let program = directory().join("tsc-rate");
    std::fs::create_dir_all(directory()).at(directory())?;
    command::run(
        Command::new("gcc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&program)
            .arg(&source),
    )?;
    let output = command::output(&mut Command::new(&program))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .ok()
        .filter(|khz| *khz > 0)
        .ok_or_else(|| {
            XtaskError::Prerequisite(format!(
                "{} printed `{}`, not a rate in kHz",
                program.display(),
                text.trim()
            ))
        })
}

/// The kernel command line: the serial console, quiet, the kernel at a fixed
/// address (so runs under `-icount` can repeat exactly), the TSC's rate
/// (`tsc_khz`) and trust in it, and `extra` (such as `bench=ipc`, which the kernel
/// hands to `/init` in its environment).
///
/// Under emulation Debian's kernel cannot find the TSC's rate on microvm (its fast
/// PIT calibration fails, and there is neither HPET nor ACPI PM timer), and its
/// clocksource watchdog, which compares the TSC with the timer interrupts' count,
/// condemns the TSC when the emulator is slow to deliver them; without a TSC its
/// clock then moves in 4 ms jiffies.
pub fn command_line(tsc_khz: u64, extra: &str) -> String {
    format!("console=ttyS0 quiet nokaslr tsc_early_khz={tsc_khz} tsc=reliable {extra}")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_modules_depends_field_is_read_from_its_modinfo() {
        let module =
            b"\x7fELF...\0license=GPL\0depends=virtio,virtio_ring,net-failover\0retpoline=Y\0";
        assert_eq!(
            module_depends(module),
            ["virtio", "virtio_ring", "net_failover"]
        );
        assert!(module_depends(b"\0depends=\0vermagic=6.1").is_empty());
        assert!(module_depends(b"no modinfo here").is_empty());
    }

    #[test]
    fn a_kept_modules_name_drops_its_order_and_dashes() {
        assert_eq!(
            kept_module_name(Path::new("/x/07-crc32c-intel.ko")),
            "crc32c_intel"
        );
        assert_eq!(kept_module_name(Path::new("12-ext4.ko")), "ext4");
    }

    #[test]
    fn only_the_modules_wanted_and_their_dependencies_are_packed() {
        let directory =
            std::env::temp_dir().join(format!("linux-guest-modules-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let modules: Vec<PathBuf> = [
            ("00-virtio_ring.ko", ""),
            ("01-virtio.ko", "virtio_ring"),
            ("02-virtio_net.ko", "virtio,virtio_ring"),
            ("03-crc16.ko", ""),
            ("04-ext4.ko", "crc16"),
        ]
        .iter()
        .map(|(name, depends)| {
            let path = directory.join(name);
            std::fs::write(&path, format!("\0depends={depends}\0")).unwrap();
            path
        })
        .collect();
        let needed = needed_modules(modules.clone(), &["ext4", "virtio"]).unwrap();
        assert_eq!(
            needed,
            [&modules[0], &modules[1], &modules[3], &modules[4]].map(PathBuf::clone)
        );
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn the_versioned_kernel_is_read_from_apt_cache() {
        let depends = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(
            versioned_dependency(depends).as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        assert_eq!(versioned_dependency("linux-image-amd64\n"), None);
        assert_eq!(
            versioned_dependency("x\n  Depends: linux-image-amd64\n  Depends: gcc\n"),
            None
        );
    }

    #[test]
    fn without_package_lists_the_kernel_fetched_last_is_used() {
        let directory =
            std::env::temp_dir().join(format!("linux-guest-test-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        assert_eq!(cached_kernel(&directory), None);
        for name in [
            "init",
            "vmlinuz-6.1.0-9-amd64",
            "vmlinuz-6.1.0-10-amd64",
            "initramfs.cpio",
        ] {
            std::fs::write(directory.join(name), b"").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(directory.join("vmlinuz-6.1.0-10-amd64"))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        assert_eq!(
            cached_kernel(&directory),
            Some(directory.join("vmlinuz-6.1.0-9-amd64"))
        );
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn the_initramfs_reads_back_as_newc_with_init_executable() {
        let init = b"\x7fELF not really a program".to_vec();
        let mut archive = Vec::new();
        write_initramfs(&init, &mut archive).unwrap();
        assert_eq!(&archive[..6], b"070701");
        assert_eq!(archive.len() % 4, 0);
        let mut rest = archive.as_slice();
        let mut seen = Vec::new();
        loop {
            let mut reader = cpio::NewcReader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            let entry = reader.entry();
            let (name, mode) = (entry.name().to_string(), entry.mode());
            let rdev = (entry.rdev_major(), entry.rdev_minor());
            let mut contents = Vec::new();
            reader.read_to_end(&mut contents).unwrap();
            seen.push((name, mode, rdev, contents));
            rest = reader.finish().unwrap();
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, "dev");
        assert_eq!(seen[0].1, 0o040_755);
        assert_eq!((seen[1].0.as_str(), seen[1].2), ("dev/console", (5, 1)));
        assert_eq!(seen[2].0, "init");
        assert_eq!(seen[2].1, 0o100_755);
        assert_eq!(seen[2].3, init);
    }

    #[test]
    fn the_command_line_keeps_the_console_and_passes_the_bench() {
        let line = command_line(ICOUNT_TSC_KHZ, "bench=ipc");
        assert!(line.starts_with("console=ttyS0 "), "{line}");
        assert!(line.ends_with(" bench=ipc"), "{line}");
        assert!(line.contains(" nokaslr "));
        assert!(
            line.contains(" tsc_early_khz=1000000 tsc=reliable "),
            "{line}"
        );
        assert!(!command_line(2_596_118, "").ends_with(' '));
    }
}
