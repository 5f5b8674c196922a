//! `init=SET`: starts the initial image's process set SET, runs it to its end and
//! reports.
//!
//! The image's configuration becomes the process model; its programs are parsed
//! once, here, so `spawn` and `exec` only copy them. Every process's end is reported
//! by the scheduler as it happens. Before the run the kernel reports the kernel
//! memory each process may hold (the image's limit, fitted to the heap when
//! `processes::install` lowered it). Around the run the kernel reports its heap use
//! (before the first process starts, at its highest while they ran, after the last
//! ended) and its free frames, so a test can see that nothing grows with the work
//! done. Then the run ends with success: whether the processes did what they should
//! is for the harness to judge from the reports. A bad image or an unknown set ends
//! the run with a failure that names it.
//!
//! Where the embedded image has a store, it is mounted from the disk first
//! ([`storage`]). When the disk holds an initial image (`/boot`), that image — its
//! programs, types, users, policy, services, init sets, hosts and keys, with the
//! embedded image's devices, limits and store backend — replaces the embedded one
//! for everything that follows, after the same checks; a `/boot` the checks refuse
//! ends the run with the reader's reason. The `image_from_disk` metric (1 or 0) and
//! a log line say which image the run starts from.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt::Write;

use ethos_abi::drivers::Backend;
use ethos_abi::{ExitCode, Report};
use ethos_core::process_model::ProcessModel;
use ethos_core::program_image;

use crate::console::{self, LineBuffer};
use crate::{boot_image, memory, network, processes, scheduler, storage, user_mode};

fn fail(reason: core::fmt::Arguments<'_>) -> ! {
    let mut line = LineBuffer::new();
    let _ = line.write_fmt(reason);
    console::report(Report::TestFail {
        name: "init",
        reason: line.as_str(),
    });
    console::end_run(ExitCode::Failure)
}

fn metric(name: &str, value: u64, unit: &str) {
    console::report(Report::Metric { name, value, unit });
}

/// Frames free or held by the rump kernel: what the set's processes did not keep.
/// The rump kernel's memory (NetBSD's buffer and vnode caches, when FFS serves the
/// store) grows as it serves and is bounded by its own limit; it is not the set's.
fn free_frames() -> u64 {
    let free = memory::FRAMES
        .lock()
        .as_ref()
        .map_or(0, |frames| frames.free_frames() as u64);
    free + rump_frames()
}

#[cfg(feature = "rump")]
fn rump_frames() -> u64 {
    crate::rump::held_frames()
}

#[cfg(not(feature = "rump"))]
fn rump_frames() -> u64 {
    0
}

/// Runs the process set `name` and ends the run; `storage` (the command line's
/// `storage=`) overrides the backend of the image's store.
pub fn run(name: &str, storage: Option<Backend>) -> ! {
    let embedded = boot_image::initial_image()
        .unwrap_or_else(|error| fail(format_args!("the initial image: {error}")));
    // The typed file system, where the image has one: every process starts at its root.
    let mut store = embedded
        .storage
        .map(|chosen| storage.unwrap_or(chosen))
        .and_then(|backend| match storage::mount(backend) {
            Ok(store) => Some(store),
            Err(storage::Unmounted::NoDisk) => {
                tracing::warn!(
                    "the image has a store ([storage]) but the machine has no disk: the file \
                 system's calls answer not-supported (`cargo xtask image` makes a disk)"
                );
                None
            }
            Err(storage::Unmounted::Refused(reason)) => fail(format_args!("the store: {reason}")),
        });
    let disk_image = match store.as_deref_mut() {
        Some(store) => {
            boot_image::disk_image(store).unwrap_or_else(|error| fail(format_args!("{error}")))
        }
        None => None,
    };
    let from_disk = disk_image.is_some();
    let mut image = disk_image.unwrap_or(embedded);
    if from_disk {
        tracing::info!(
            programs = image.counts.programs,
            init_sets = image.counts.init_sets,
            "the initial image comes from the disk (/boot)"
        );
    } else {
        tracing::info!("the initial image is the kernel's own");
    }
    metric("image_from_disk", u64::from(from_disk), "count");
    let Some(set) = image.init_sets.get(name) else {
        let mut known = String::new();
        for set in image.init_sets.keys() {
            known.push(' ');
            known.push_str(set);
        }
        fail(format_args!(
            "the initial image{} has no init set `{name}`; it has:{known}",
            if from_disk {
                " on the disk (/boot)"
            } else {
                ""
            }
        ));
    };
    let mut programs = BTreeMap::new();
    for (program, executable) in &image.executables {
        match program_image::parse(executable, user_mode::IMAGE_RANGE) {
            Ok(parsed) => {
                programs.insert(program.clone(), parsed);
            }
            Err(error) => fail(format_args!("program `{program}`: {error}")),
        }
    }
    let types = image.configuration.types.clone();
    let mut model = ProcessModel::new(image.configuration)
        .unwrap_or_else(|error| fail(format_args!("the initial image's configuration: {error}")));
    // The keys of the users who work here: only the kernel uses them (to prove
    // those users to other hosts).
    model.install_user_keys(core::mem::take(&mut image.hosts.user_keys));
    if let Some(store) = store {
        model.attach_store(store);
    }
    processes::install(model, programs);
    // The limit each process got, fitted to the heap: what the rows judge refusals by.
    if let Some(limit) = processes::with_model(|model| model.kernel_memory_limit()) {
        metric("kernel_memory_per_process", limit as u64, "bytes");
    }
    // A host reaches others (and they it) through the network service; without it
    // `ipc` to a host fails with tunnel-not-created, and says why here.
    if image.hosts.this_host.is_some()
        && let Err(error) = network::start(image.hosts, types)
    {
        tracing::warn!(%error, "no network service: other hosts are out of reach");
    }
    let frames_before = free_frames();
    let rump_frames_before = rump_frames();
    let heap_before = memory::heap_used() as u64;
    memory::restart_heap_peak();
    metric("heap_before", heap_before, "bytes");
    for (user, program) in set {
        if let Err(error) = user_mode::spawn(user, program, None) {
            fail(format_args!("starting `{program}` as {user}: {error}"));
        }
    }
    let finished = scheduler::run();
    network::stop();
    // The model keeps what the set's processes left behind (advertised names,
    // virtual processes with queued descriptors); the heap is measured with it, so a
    // leak anywhere shows.
    let heap_after = memory::heap_used() as u64;
    metric("heap_peak", memory::heap_peak() as u64, "bytes");
    metric("heap_after", heap_after, "bytes");
    metric("processes_ended", finished.count, "count");
    let frames_after = free_frames();
    if frames_after != frames_before {
        fail(format_args!(
            "{frames_before} frames were free (or the rump kernel's) before the set ran and \
             {frames_after} after"
        ));
    }
    let rump_frames_after = rump_frames();
    if rump_frames_after != rump_frames_before {
        tracing::info!(
            before = rump_frames_before,
            after = rump_frames_after,
            "frames the rump kernel holds, before the set and after"
        );
    }
    console::end_run(ExitCode::Success)
}
