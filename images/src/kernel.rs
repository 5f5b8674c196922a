//! Building the kernel, the programs and the initial image, and the hosted runner
//! that runs the image's init sets on Linux.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ethos_abi::drivers::Backend;
use ethos_core::initial_image::Counts;

use crate::error::FileContext;
use crate::initial_image::{LoadedDescription, PACKED};
use crate::{XtaskError, command, prerequisites, target_directory, workspace_root};

/// The Rust target the kernel is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The rump kernel archives the kernel's `rump` feature links (rump-sys features
/// `ffs`, `inet`, `virtio-net`, `virtio-block`, `wm`, and what they need), each
/// `lib<name>.a` under `$RUMPKERNEL_DIR/lib`.
pub const RUMP_ARCHIVES: &[&str] = &[
    "rumpdev_virtio_if_vioif",
    "rumpdev_pci_virtio",
    "rumpdev_virtio_ld",
    "rumpdev_pci_if_wm",
    "rumpdev_miiphy",
    "rumpdev_pci",
    "rumpfs_ffs",
    "rumpdev_disk",
    "rumpdev",
    "rumpvfs",
    "rumpnet_netinet",
    "rumpnet_config",
    "rumpnet_net",
    "rumpnet",
    "rump",
];

/// The rump kernel build `RUMPKERNEL_DIR` names, if it is set (and not empty).
pub fn rump_kernel_directory() -> Option<PathBuf> {
    std::env::var_os("RUMPKERNEL_DIR")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The backends the kernel has drivers of: native always; rump when a rump kernel
/// build is named (the kernel then links it, see [`build`]).
pub fn kernel_backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Native];
    if rump_kernel_directory().is_some() {
        backends.push(Backend::Rump);
    }
    backends
}

/// Checks that the named rump kernel build has every archive the kernel links, with
/// the properties the kernel needs ([`crate::rump_build`]).
pub fn check_rump_build(directory: &Path) -> Result<(), XtaskError> {
    let header = directory.join("include").join("rump").join("rump.h");
    if !header.is_file() {
        return Err(XtaskError::Prerequisite(format!(
            "RUMPKERNEL_DIR={} is not a rump kernel build: it has no include/rump/rump.h \
             (see rump-sys/README.md for what the build must contain)",
            directory.display()
        )));
    }
    crate::rump_build::check_archives(directory, RUMP_ARCHIVES)
}

/// The variable naming the packed initial image for the kernel's `build.rs`.
pub const INITIAL_IMAGE_VARIABLE: &str = "ETHOS_INITIAL_IMAGE";

/// The cargo binary that runs this xtask.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Which kernel to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// The kernel users boot: no in-kernel tests (`test=NAME` is refused).
    Production,
    /// With the in-kernel tests (`ethos-kernel`'s `selftest` feature), as the
    /// system tests and the driver benchmarks boot it.
    Selftest,
}

impl Flavour {
    /// The name of its ELF under `target/kernels/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Flavour::Production => "ethos-kernel",
            Flavour::Selftest => "ethos-kernel-selftest",
        }
    }

    /// The flavour a command line needs: `test=NAME` runs an in-kernel test.
    pub fn for_command_line(command_line: &str) -> Flavour {
        if command_line
            .split_whitespace()
            .any(|word| word.starts_with("test="))
        {
            Flavour::Selftest
        } else {
            Flavour::Production
        }
    }
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct Build {
    /// The kernel's ELF.
    pub kernel: PathBuf,
    /// Every program's executable.
    pub programs: Vec<PathBuf>,
    /// The packed initial image the kernel embeds.
    pub initial_image: PathBuf,
    /// What the initial image's description declares.
    pub image_counts: Counts,
}

/// Builds the programs, packs the initial image, then builds the kernel in release
/// mode embedding both (see the kernel's `build.rs`), linking the rump kernel
/// `RUMPKERNEL_DIR` names if it is set.
pub fn build(flavour: Flavour) -> Result<Build, XtaskError> {
    build_with(flavour, rump_kernel_directory().is_some())
}

/// [`build`], linking a rump kernel or not (`link_rump` needs `RUMPKERNEL_DIR`). A
/// kernel built without one while one is named is kept apart, with `-native` after
/// its name, so both can be compared.
pub fn build_with(flavour: Flavour, link_rump: bool) -> Result<Build, XtaskError> {
    prerequisites::ensure_kernel_target()?;
    let description = LoadedDescription::load_default()?;
    let programs = build_programs(&description)?;
    let initial_image = pack_initial_image(&description)?;
    let built = build_embedding(flavour, link_rump, &description, &programs, &initial_image)?;
    // Both flavours are kept side by side, so a run can boot either.
    let kernels = target_directory().join("kernels");
    std::fs::create_dir_all(&kernels).at(&kernels)?;
    let kernel = if !link_rump && rump_kernel_directory().is_some() {
        kernels.join(format!("{}-native", flavour.file_name()))
    } else {
        kernels.join(flavour.file_name())
    };
    std::fs::copy(&built, &kernel).at(&kernel)?;
    Ok(Build {
        kernel,
        programs,
        initial_image,
        image_counts: description.counts(),
    })
}

/// Builds a kernel embedding the image `description` declares (for one host of a
/// set, [`crate::host_set`]), linking the rump kernel when `RUMPKERNEL_DIR` names
/// one; packs the image into `directory` and copies the kernel there, named for its
/// flavour. Returns the kernel's path.
pub fn build_for(
    flavour: Flavour,
    description: &LoadedDescription,
    directory: &Path,
) -> Result<PathBuf, XtaskError> {
    prerequisites::ensure_kernel_target()?;
    let programs = build_programs(description)?;
    let initial_image = directory.join("initial.tar");
    write_if_changed(&initial_image, &description.pack(&programs_directory())?)?;
    let link_rump = rump_kernel_directory().is_some();
    let built = build_embedding(flavour, link_rump, description, &programs, &initial_image)?;
    let kernel = directory.join(flavour.file_name());
    std::fs::copy(&built, &kernel).at(&kernel)?;
    Ok(kernel)
}

/// Builds the kernel embedding `programs` and the packed `initial_image`; returns
/// where cargo left it.
fn build_embedding(
    flavour: Flavour,
    link_rump: bool,
    description: &LoadedDescription,
    programs: &[PathBuf],
    initial_image: &Path,
) -> Result<PathBuf, XtaskError> {
    let mut build = cargo();
    for program in programs {
        if let Some(name) = program.file_name() {
            let variable = format!(
                "ETHOS_PROGRAM_{}",
                name.to_string_lossy().to_uppercase().replace('-', "_")
            );
            build.env(variable, program);
        }
    }
    build.env(INITIAL_IMAGE_VARIABLE, initial_image);
    build
        .current_dir(workspace_root())
        .args(["build", "-p", "ethos-kernel", "--target", TARGET]);
    let mut features = Vec::new();
    if flavour == Flavour::Selftest {
        features.push("selftest");
    }
    let image_rump: Vec<&str> = ethos_abi::drivers::DeviceClass::ALL
        .iter()
        .filter(|class| description.backend_choice().backend(**class) == Backend::Rump)
        .map(|class| class.name())
        .collect();
    if !image_rump.is_empty() && !link_rump {
        return Err(XtaskError::Prerequisite(format!(
            "the image description chooses the rump backend for {}, but RUMPKERNEL_DIR is \
             not set: name a rump kernel build (see rump-sys/README.md) or choose `native`",
            image_rump.join(", ")
        )));
    }
    match rump_kernel_directory().filter(|_| link_rump) {
        Some(directory) => {
            check_rump_build(&directory)?;
            println!(
                "kernel: links the rump kernel of RUMPKERNEL_DIR={} (native and rump backends)",
                directory.display()
            );
            features.push("rump");
        }
        None if link_rump => {
            return Err(XtaskError::Prerequisite(
                "a kernel with the rump backends needs RUMPKERNEL_DIR naming a rump kernel build \
                 (see rump-sys/README.md)"
                    .into(),
            ));
        }
        None if rump_kernel_directory().is_some() => {
            println!("kernel: native backends only (built without the rump kernel, for comparison)")
        }
        None => println!(
            "kernel: native backends only (no rump kernel linked: RUMPKERNEL_DIR is not set)"
        ),
    }
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    let profile = if features.contains(&"rump") {
        RUMP_KERNEL_PROFILE
    } else {
        KERNEL_PROFILE
    };
    build.args(["--profile", profile]);
    command::run(&mut build)?;
    Ok(target_directory()
        .join(TARGET)
        .join(profile)
        .join("ethos-kernel"))
}

/// The bytes a kernel ELF loads into memory (its `PT_LOAD` segments' file bytes),
/// the size of the bootable image without symbols or debug information.
pub fn loaded_bytes(kernel: &Path) -> Result<u64, XtaskError> {
    use object::read::elf::{ElfFile64, ProgramHeader};
    let data = std::fs::read(kernel).at(kernel)?;
    let elf =
        ElfFile64::<object::Endianness>::parse(&*data).map_err(|error| XtaskError::BadImage {
            path: kernel.to_path_buf(),
            problem: format!("not an ELF64 file: {error}"),
        })?;
    let endian = elf.endian();
    Ok(elf
        .elf_program_headers()
        .iter()
        .filter(|header| header.p_type(endian) == object::elf::PT_LOAD)
        .map(|header| header.p_filesz(endian))
        .sum())
}

/// Builds everything and returns the path of the kernel's ELF.
pub fn build_kernel(flavour: Flavour) -> Result<PathBuf, XtaskError> {
    build(flavour).map(|build| build.kernel)
}

/// The package and binary of the hosted runner: the system-test programs as threads
/// on the hosted platform (`kernel/platform/hosted`).
pub const HOSTED_RUNNER: (&str, &str) = ("system-test-programs", "ethos-hosted");

/// What a hosted run needs.
#[derive(Clone, Debug)]
pub struct HostedBuild {
    /// The hosted runner, built for this host.
    pub runner: PathBuf,
    /// The packed initial image: its users, programs' identities, labels, policy,
    /// services and init sets are what the runner runs.
    pub initial_image: PathBuf,
}

/// Builds the programs for Ethos and packs the initial image (the programs'
/// identities are their Ethos executables'), then builds the hosted runner for this
/// host in release mode.
pub fn build_hosted() -> Result<HostedBuild, XtaskError> {
    prerequisites::ensure_kernel_target()?;
    let description = LoadedDescription::load_default()?;
    build_programs(&description)?;
    let initial_image = pack_initial_image(&description)?;
    let runner = build_hosted_runner()?;
    Ok(HostedBuild {
        runner,
        initial_image,
    })
}

/// Builds the hosted runner for this host and returns its path.
pub fn build_hosted_runner() -> Result<PathBuf, XtaskError> {
    let (package, binary) = HOSTED_RUNNER;
    command::run(cargo().current_dir(workspace_root()).args([
        "build",
        "--release",
        "-p",
        package,
        "--bin",
        binary,
    ]))?;
    Ok(target_directory().join("release").join(binary))
}

/// The cargo profile the kernel is built with: `release` with link-time
/// optimization across its crates (see the workspace's `Cargo.toml`).
const KERNEL_PROFILE: &str = "kernel";

/// The cargo profile a kernel that links a rump kernel is built with: as
/// [`KERNEL_PROFILE`] without link-time optimization, which would make the Rust
/// side's C library functions (`memcpy` and the like, weak symbols) local to the
/// kernel's own code, where the rump kernel's objects could no longer reach them.
const RUMP_KERNEL_PROFILE: &str = "kernel-rump";

/// The cargo profile the programs are built with: `release` with one code unit
/// per crate (see the workspace's `Cargo.toml`).
const PROGRAM_PROFILE: &str = "programs";

/// Where cargo puts the programs' builds.
fn programs_directory() -> PathBuf {
    target_directory().join(TARGET).join(PROGRAM_PROFILE)
}

/// The packages under `images/programs/`: the `[package] name` of each directory's
/// `Cargo.toml`.
fn program_packages() -> Result<Vec<String>, XtaskError> {
    let directory = workspace_root().join("images").join("programs");
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let manifest = entry.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).at(&manifest)?;
        let name = text
            .parse::<toml::Table>()
            .ok()
            .and_then(|table| {
                table
                    .get("package")?
                    .get("name")?
                    .as_str()
                    .map(str::to_string)
            })
            .ok_or_else(|| XtaskError::BadImage {
                path: manifest.clone(),
                problem: "no `[package] name`".into(),
            })?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// Builds every program the initial image lists and every package under
/// `images/programs/`, in one cargo invocation run from that directory so that its
/// `.cargo/config.toml` adds the programs' code generation flags; returns the paths
/// of their executables.
pub fn build_programs(description: &LoadedDescription) -> Result<Vec<PathBuf>, XtaskError> {
    // Every program package builds (so none rots unseen); the image's description
    // says which binaries are programs.
    let packages: BTreeSet<String> = program_packages()?.into_iter().collect();
    // A package the workspace does not have is refused before anything builds.
    description.check_programs(&packages, |_| true)?;
    let mut binaries = BTreeSet::new();
    for (_, binary) in description.packages() {
        binaries.insert(binary);
    }
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let mut build = cargo();
    build
        .current_dir(workspace_root().join("images").join("programs"))
        .args(["build", "--profile", PROGRAM_PROFILE, "--target", TARGET]);
    for package in &packages {
        build.args(["-p", package]);
    }
    command::run(&mut build)?;
    description.check_programs(&packages, |binary| {
        programs_directory().join(binary).is_file()
    })?;
    Ok(binaries
        .iter()
        .map(|binary| programs_directory().join(binary))
        .collect())
}

/// Packs the initial image the description declares into the target directory
/// (rewriting the file only when its bytes change, so the kernel is rebuilt only
/// then) and returns its path. The programs must be built.
pub fn pack_initial_image(description: &LoadedDescription) -> Result<PathBuf, XtaskError> {
    let bytes = description.pack(&programs_directory())?;
    let path = target_directory().join(PACKED);
    write_if_changed(&path, &bytes)?;
    Ok(path)
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), XtaskError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory).at(directory)?;
    }
    std::fs::write(path, bytes).at(path)
}
