//! `cargo xtask`: the one door to building, imaging, running, testing and
//! benchmarking Ethos-on-rump. Every external command is printed before it runs.
#![forbid(unsafe_code)]

mod bench;
mod bench_drivers;
mod bench_fs;
mod bench_ipc;
mod bench_ipc_profile;
mod bench_net;
mod bench_report;
mod bench_results;
mod check;
mod ipc_trace;
mod junit;
mod run;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ethos_images::error::FileContext;
use ethos_images::initial_image::{self, LoadedDescription};
use ethos_images::platform::{self, Platform};
use ethos_images::{XtaskError, disk, kernel, prerequisites};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, image, run, test and benchmark Ethos-on-rump"
)]
struct Arguments {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build every program under images/programs and every program the initial
    /// image lists, pack the initial image described by images/boot/image.toml
    /// (target/images/initial.tar), and build the kernel (x86_64-unknown-none,
    /// release) embedding it. The kernel carries no in-kernel tests unless
    /// --selftest asks for them.
    Build {
        /// Build the kernel with its in-kernel tests (`test=NAME`).
        #[arg(long)]
        selftest: bool,
    },
    /// List what the initial image holds: each entry with its size (programs with
    /// the start of their SHA-512 identity), then the users, programs, types,
    /// services, policy and init sets the kernel reads from it. Builds the programs
    /// and packs the image first, unless --file names an image to list.
    ImageContents {
        /// An initial image (a ustar archive) to list instead of building one.
        #[arg(long)]
        file: Option<PathBuf>,
        /// A disk of the typed file system (such as target/images/disk.img) to list
        /// instead: every directory with its label and type, every file with its size.
        #[arg(long, conflicts_with = "file")]
        disk: Option<PathBuf>,
    },
    /// Make a set of hosts that know each other: for each host, an initial image
    /// holding its identity (name, address 10.0.7.N, UDP port, long-term key), the
    /// other hosts as its directory and the keys of the users who work on it, and a
    /// kernel embedding it, under target/hosts/NAME/. Keys are made once and kept in
    /// target/hosts/keys/. Host N boots as guest N of a QEMU socket network (its
    /// NIC's MAC is 52:54:00:e7:00:N).
    Hosts {
        /// The hosts, in order (at least two).
        #[arg(required = true, num_args = 2..)]
        names: Vec<String>,
        /// USER@HOST: USER works on HOST, whose kernel holds USER's key; every host
        /// gives USER the same new public key. Repeat for more users.
        #[arg(long = "user", value_parser = ethos_images::host_set::parse_placement)]
        users: Vec<(String, String)>,
        /// The UDP port every host receives MinimaLT's datagrams on.
        #[arg(long, default_value_t = ethos_images::host_set::DEFAULT_PORT)]
        port: u16,
        /// Build the kernels with their in-kernel tests (`test=NAME`).
        #[arg(long)]
        selftest: bool,
    },
    /// Build a bootable image and print each artifact's path and size.
    Image {
        /// kvm: the PVH kernel ELF; xen: the ELF and an `xl` config (type "pvh");
        /// metal: a GRUB ISO booting the kernel through multiboot2.
        #[arg(long, value_enum, default_value_t = Platform::Kvm)]
        platform: Platform,
        /// The kernel command line baked into the image (xen, metal).
        #[arg(long, default_value = "")]
        command_line: String,
    },
    /// Build the default image and boot it in QEMU with the serial console on this
    /// terminal, until the kernel exits or Ctrl-C. Uses KVM when /dev/kvm is usable,
    /// else TCG. With --platform hosted, run the initial image's init set
    /// (--command-line init=SET) on Linux instead, each program a thread of one
    /// process (kernel/platform/hosted).
    Run(run::RunArguments),
    /// Run every host test (cargo test) and every QEMU system test; ends with
    /// `N passed, N failed, N skipped` and fails if any test failed.
    Test(test::TestArguments),
    /// Check the native file system in an image file (its fsck): read both
    /// superblocks and every directory, value and block reached from the newest,
    /// changing nothing; print what was found and every problem, and fail if there
    /// is one.
    Fsck {
        /// The image file, seen as 512-byte blocks.
        image: PathBuf,
    },
    /// The gate before the tests: `cargo fmt --check`, and clippy with `-D warnings`
    /// for the host crates and for the kernel target (the kernel and the programs).
    Check,
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        benchmark: Benchmark,
    },
    /// The echo process of `bench ipc`'s host baseline: copies stdin to stdout.
    #[command(hide = true)]
    PipeEcho,
}

#[derive(Debug, Subcommand)]
enum Benchmark {
    /// Boot the kernel many times per machine and accelerator; print the median and
    /// spread of kernel entry → ready (by the kernel's TSC) and QEMU start → ready
    /// line (by the host clock).
    Boot(bench::BootArguments),
    /// UDP throughput and round trip (host process ↔ guest) and sequential block
    /// write/read rates, one column per backend, under KVM (when usable) and TCG.
    Drivers(bench_drivers::DriverArguments),
    /// The typed round trip between two Ethos processes (64 B, 4 KiB) and a null
    /// system call, beside the same in a Linux guest (Debian's kernel, two processes
    /// and pipes) on the same emulated PC and a pipe round trip between two host
    /// processes, measured in the same run: TCG wall time over several runs,
    /// instructions under -icount (twice, checked to agree), KVM where the host has
    /// hardware virtualization. Saves target/bench/ipc.json. With --profile, instead
    /// one run under -icount with QEMU's execution log: each round trip's
    /// instructions by kernel and program function (target/bench/ipc-profile.md).
    Ipc(bench_ipc::IpcArguments),
    /// Typed IPC between two hosts through the kernels' MinimaLT tunnel (64 B and
    /// 4 KiB round trips, the tunnel's setup, one-way bulk transfer) beside two Linux
    /// guests doing plain UDP with the same payloads, on the same QEMU socket
    /// network: TCG wall time over several alternating runs. Saves
    /// target/bench/net.json.
    Net(bench_net::NetArguments),
    /// The typed file system's durable writeVar and readVar of 4 KiB and 1 MiB
    /// values and its creates, beside a Linux guest writing files with fsync on ext4
    /// (O_DIRECT reads), on the same microvm, virtio-blk device model and disk size:
    /// TCG wall time over several alternating runs, a new disk each. Saves
    /// target/bench/fs.json.
    Fs(bench_fs::FsArguments),
    /// Run `bench ipc`, `bench boot` and `bench fs` (or, with --saved, read what they
    /// last saved) and write target/bench/report.md, report.json and a plot per figure
    /// (SVG and PNG): Ethos beside the Linux guest beside the goal.
    Report(bench_report::ReportArguments),
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let result = match arguments.command {
        Task::Build { selftest } => build(if selftest {
            kernel::Flavour::Selftest
        } else {
            kernel::Flavour::Production
        }),
        Task::ImageContents { file, disk: None } => image_contents(file),
        Task::ImageContents {
            disk: Some(disk), ..
        } => disk_contents(&disk),
        Task::Image {
            platform,
            command_line,
        } => image(platform, &command_line),
        Task::Hosts {
            names,
            users,
            port,
            selftest,
        } => hosts(
            &ethos_images::host_set::HostSetPlan {
                hosts: names,
                users,
                port,
            },
            selftest,
        ),
        Task::Run(arguments) => run::run(&arguments),
        Task::Test(arguments) => test::test(&arguments),
        Task::Fsck { image } => fsck(&image),
        Task::Check => check::check(),
        Task::Bench {
            benchmark: Benchmark::Boot(arguments),
        } => bench::boot(&arguments),
        Task::Bench {
            benchmark: Benchmark::Drivers(arguments),
        } => bench_drivers::drivers(&arguments),
        Task::Bench {
            benchmark: Benchmark::Ipc(arguments),
        } => bench_ipc::ipc(&arguments),
        Task::Bench {
            benchmark: Benchmark::Net(arguments),
        } => bench_net::net(&arguments),
        Task::Bench {
            benchmark: Benchmark::Fs(arguments),
        } => bench_fs::fs(&arguments),
        Task::Bench {
            benchmark: Benchmark::Report(arguments),
        } => bench_report::report(&arguments),
        Task::PipeEcho => ethos_tests::ipc_bench::serve_pipe_echo()
            .map(|()| ExitCode::SUCCESS)
            .map_err(|error| XtaskError::File {
                path: "standard input and output".into(),
                error,
            }),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn fsck(image: &Path) -> Result<ExitCode, XtaskError> {
    let mut device =
        ethos_fs::native::FileDevice::open_read_only(image).map_err(|error| XtaskError::File {
            path: image.to_path_buf(),
            error,
        })?;
    let report = ethos_fs::native::check(&mut device);
    print!("{}: {report}", image.display());
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn build(flavour: kernel::Flavour) -> Result<ExitCode, XtaskError> {
    let build = kernel::build(flavour)?;
    println!("kernel: {}", build.kernel.display());
    for program in &build.programs {
        println!("program: {}", program.display());
    }
    println!("initial image: {}", build.initial_image.display());
    Ok(ExitCode::SUCCESS)
}

fn image_contents(file: Option<PathBuf>) -> Result<ExitCode, XtaskError> {
    let path = match file {
        Some(path) => path,
        None => {
            prerequisites::ensure_kernel_target()?;
            let description = LoadedDescription::load_default()?;
            kernel::build_programs(&description)?;
            kernel::pack_initial_image(&description)?
        }
    };
    let bytes = std::fs::read(&path).at(&path)?;
    println!("{}:", path.display());
    for line in initial_image::list(&path, &bytes)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn disk_contents(path: &std::path::Path) -> Result<ExitCode, XtaskError> {
    println!("{}:", path.display());
    for line in disk::list(path)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn hosts(
    plan: &ethos_images::host_set::HostSetPlan,
    selftest: bool,
) -> Result<ExitCode, XtaskError> {
    let flavour = if selftest {
        kernel::Flavour::Selftest
    } else {
        kernel::Flavour::Production
    };
    let base = LoadedDescription::load_default()?;
    for host in ethos_images::host_set::make(plan, &base, flavour)? {
        let [a, b, c, d] = ethos_abi::drivers::peer_address(host.number);
        println!(
            "host {} ({a}.{b}.{c}.{d}:{}), key {}",
            host.name, plan.port, host.public_key
        );
        println!("  description: {}", host.description.display());
        println!("  kernel: {}", host.kernel.display());
        println!(
            "  its NIC: -device virtio-net-pci,netdev=n0,mac={} on a socket network shared \
             with the others (-netdev socket,id=n0,...)",
            ethos_abi::drivers::Mac(ethos_abi::drivers::peer_mac(host.number))
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn image(platform: Platform, command_line: &str) -> Result<ExitCode, XtaskError> {
    let build = kernel::build(kernel::Flavour::for_command_line(command_line))?;
    let kernel = build.kernel;
    let artifacts = platform::build_image(
        platform,
        &kernel,
        command_line,
        &platform::image_directory(platform),
    )?;
    for artifact in artifacts {
        println!("{artifact}");
    }
    // The typed file system's disk, where the description has a store, holding the
    // initial image the kernel embeds (its /boot): attach it as the machine's disk
    // (`-drive file=...,if=none,id=d0 -device virtio-blk-pci,drive=d0`).
    let description = LoadedDescription::load_default()?;
    if let Some(plan) = description.disk_plan()? {
        let packed = build.initial_image;
        let bytes = std::fs::read(&packed).at(&packed)?;
        let entries = ethos_core::initial_image::archive_entries(&bytes).map_err(|error| {
            XtaskError::BadImage {
                path: packed.clone(),
                problem: error.to_string(),
            }
        })?;
        let path = ethos_images::target_directory().join(disk::DISK);
        disk::make_disk(&plan, &entries, &path)?;
        println!("{}", platform::artifact(path)?);
    }
    Ok(ExitCode::SUCCESS)
}
