//! The initial image the build embedded (`ETHOS_INITIAL_IMAGE`, see `build.rs`), read
//! with the portable reader in `ethos_core::initial_image`; the image on the disk
//! (`/boot` in the store, [`ethos_core::initial_image::boot_disk`]), read with the
//! same reader and the embedded image's `devices`, `limits` and `storage`; and the
//! `initial_image` kernel test.
//!
//! This module only reads the image and tries it on scratch process models; starting
//! the processes of an init set is `init`'s work, never this module's.

use alloc::boxed::Box;
use core::fmt;

use ethos_abi::drivers::{Backend, BackendChoice, DeviceClass};
use ethos_abi::{Report, Status};
use ethos_core::initial_image::{self, ImageError, InitialImage, boot_disk};
use ethos_core::process_model::identity::{ProgramName, UserName};
use ethos_core::process_model::{ConfigurationError, ProcessModel};

use crate::console;

/// The packed initial image (empty when the kernel was built without `cargo xtask`).
static INITIAL_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/initial.tar"));
/// The image's `devices` entry, copied out by `build.rs` (empty when the image has
/// none or is malformed).
static DEVICES_ENTRY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/initial-devices"));

/// The `devices` entry as `build.rs` decoded it with the same reader and checks:
/// every class's backend, or `None` where the build found no entry or the reader
/// refused it (the boot then decodes the entry, or the image, to say why).
static DECODED_BACKENDS: Option<&[(DeviceClass, Backend)]> =
    include!(concat!(env!("OUT_DIR"), "/initial-backends.rs"));

/// Why the embedded initial image cannot be used.
#[derive(Debug)]
pub enum BootImageError {
    /// The build embedded no image.
    Missing,
    /// The image is malformed.
    Image(ImageError),
    /// The disk's `/boot` is malformed.
    Disk(ImageError),
    /// The process model refuses the image's configuration.
    Configuration(ConfigurationError),
    /// A process of an init set cannot be created.
    InitProcess {
        set: alloc::string::String,
        user: UserName,
        program: ProgramName,
        status: Status,
    },
}

impl fmt::Display for BootImageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootImageError::Missing => formatter.write_str(
                "the kernel was built without an initial image (build with `cargo xtask build`)",
            ),
            BootImageError::Image(error) => write!(formatter, "the initial image: {error}"),
            BootImageError::Disk(error) => {
                write!(formatter, "the initial image on the disk (/boot): {error}")
            }
            BootImageError::Configuration(error) => write!(
                formatter,
                "the process model refuses the initial image: {error}"
            ),
            BootImageError::InitProcess {
                set,
                user,
                program,
                status,
            } => write!(
                formatter,
                "init set `{set}`: program `{program}` for user `{user}` cannot be created: \
                 {status}"
            ),
        }
    }
}

/// The embedded initial image, read and checked.
pub fn initial_image() -> Result<InitialImage<'static>, BootImageError> {
    if INITIAL_IMAGE.is_empty() {
        return Err(BootImageError::Missing);
    }
    initial_image::read(INITIAL_IMAGE).map_err(BootImageError::Image)
}

/// The image on the disk, when the store has `/boot`: its entries with the embedded
/// image's `devices`, `limits` and `storage`, checked as the embedded image is.
/// `None` when the disk has no `/boot`.
///
/// The entries live as long as the kernel: the image's executables borrow them, and
/// `init` runs one set and ends the run.
pub fn disk_image(
    store: &mut dyn ethos_fs::Store,
) -> Result<Option<InitialImage<'static>>, BootImageError> {
    if INITIAL_IMAGE.is_empty() {
        return Err(BootImageError::Missing);
    }
    let Some(entries) = boot_disk::read_disk(store).map_err(BootImageError::Disk)? else {
        return Ok(None);
    };
    let entries: &'static boot_disk::DiskEntries = Box::leak(Box::new(entries));
    boot_disk::read_image(entries, INITIAL_IMAGE)
        .map(Some)
        .map_err(BootImageError::Disk)
}

/// The memory the embedded image lets a rump kernel use, read from its `limits`
/// entry alone; the default when the build embedded no image or the image sets none.
pub fn rump_memory_limit() -> Result<u64, BootImageError> {
    if INITIAL_IMAGE.is_empty() {
        return Ok(ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY);
    }
    initial_image::read_rump_memory_limit(INITIAL_IMAGE).map_err(BootImageError::Image)
}

/// The backend the embedded image chooses for each device class, read from its
/// `devices` entry alone (the copy the build made of it, so the boot does not walk
/// the archive); every class native when the build embedded no image.
pub fn backend_choice() -> Result<BackendChoice, BootImageError> {
    if INITIAL_IMAGE.is_empty() {
        tracing::warn!("no initial image: every device class is served natively");
        return Ok(BackendChoice::NATIVE);
    }
    if let Some(decoded) = DECODED_BACKENDS {
        let mut choice = BackendChoice::NATIVE;
        for &(class, backend) in decoded {
            choice.choose(class, backend);
        }
        return Ok(choice);
    }
    if DEVICES_ENTRY.is_empty() {
        // The build found no entry: the reader says why.
        return initial_image::read_backend_choice(INITIAL_IMAGE).map_err(BootImageError::Image);
    }
    initial_image::devices_backend_choice(DEVICES_ENTRY).map_err(BootImageError::Image)
}

/// `initial_image`: reads the embedded image, reports how many of each thing it
/// holds, builds a process model from it, and creates every init set's processes in
/// a model of their own.
pub fn check() -> Result<(), BootImageError> {
    let image = initial_image()?;
    for (name, value) in image.counts.metrics() {
        console::report(Report::Metric {
            name,
            value,
            unit: "count",
        });
    }
    ProcessModel::new(image.configuration.clone()).map_err(BootImageError::Configuration)?;
    let mut processes = 0;
    for (set, members) in &image.init_sets {
        let mut model = ProcessModel::new(image.configuration.clone())
            .map_err(BootImageError::Configuration)?;
        for (user, program) in members {
            model
                .create_process(user, program)
                .map_err(|status| BootImageError::InitProcess {
                    set: set.clone(),
                    user: user.clone(),
                    program: program.clone(),
                    status,
                })?;
            processes += 1;
        }
    }
    console::report(Report::Metric {
        name: "image_init_processes",
        value: processes,
        unit: "count",
    });
    tracing::info!(
        bytes = INITIAL_IMAGE.len(),
        users = image.counts.users,
        programs = image.counts.programs,
        services = image.counts.services,
        "initial image read"
    );
    Ok(())
}
