//! The disk of the typed file system: what `[storage]` of the description says its
//! root directory carries, and an empty store of the chosen backend made to that
//! plan in an image file (`cargo xtask image` writes `target/images/disk.img`): the
//! native store, or for `rump` an FFS file system made by NetBSD's `makefs` with the
//! root's record (`ethos_fs_rump::image`).

use std::path::Path;

use ethos_abi::drivers::Backend;
use ethos_fs::DirectoryRecord;
use ethos_fs::native::{self, FILE_BLOCK_SIZE, FileDevice};

use crate::XtaskError;
use crate::error::FileContext;
use crate::initial_image::{DEFAULT_DISK_SIZE, LoadedDescription};

/// The disk's path under the target directory.
pub const DISK: &str = "images/disk.img";

/// What a disk for the description holds when it is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskPlan {
    /// The root directory's label and type.
    pub root: DirectoryRecord,
    /// The disk's size in bytes.
    pub bytes: u64,
    /// The store's backend, which decides the disk's format.
    pub backend: Backend,
}

impl LoadedDescription {
    /// The disk `[storage]` describes; `None` when the description has no store.
    /// The root's type must be a type of the image's ETN files.
    pub fn disk_plan(&self) -> Result<Option<DiskPlan>, XtaskError> {
        let Some(storage) = &self.description.storage else {
            return Ok(None);
        };
        let bytes = self.pack_with_stand_ins()?;
        let image =
            ethos_core::initial_image::read(&bytes).map_err(|error| XtaskError::Description {
                path: self.path.clone(),
                location: None,
                problem: format!("the image it describes is refused: {error}"),
            })?;
        let types = &image.configuration.types;
        let name = storage.root_type.get_ref();
        let Some(hash) = types.find_by_name(name).and_then(|node| types.hash(node)) else {
            return Err(self.error_at(
                storage.root_type.span(),
                format!("[storage] root_type: no type `{name}` in the image's ETN files"),
            ));
        };
        Ok(Some(DiskPlan {
            root: DirectoryRecord {
                label: storage.root_label.get_ref().clone(),
                type_hash: hash.0,
            },
            bytes: storage
                .disk_size
                .as_ref()
                .map_or(DEFAULT_DISK_SIZE, |size| *size.get_ref()),
            backend: Backend::from_name(storage.backend.get_ref()).unwrap_or(Backend::Native),
        }))
    }
}

/// Makes an empty store of the plan's backend in a new image file at `path`
/// (replacing what was there); a native one is checked.
pub fn make_disk(plan: &DiskPlan, path: &Path) -> Result<(), XtaskError> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory).at(directory)?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    if plan.backend == Backend::Rump {
        crate::prerequisites::ensure(&[crate::prerequisites::MAKEFS])?;
        return ethos_fs_rump::image::make(path, plan.bytes, &plan.root, now).map_err(|error| {
            XtaskError::BadImage {
                path: path.to_path_buf(),
                problem: format!("the FFS store cannot be made: {error}"),
            }
        });
    }
    let blocks = plan.bytes / FILE_BLOCK_SIZE as u64;
    let device = FileDevice::create(path, blocks).at(path)?;
    let store = native::format(device, &plan.root, now).map_err(|error| XtaskError::BadImage {
        path: path.to_path_buf(),
        problem: format!("the store cannot be made: {error}"),
    })?;
    let mut device = store.into_device();
    let report = native::check(&mut device);
    if !report.is_clean() {
        return Err(XtaskError::BadImage {
            path: path.to_path_buf(),
            problem: format!("the new store does not check clean:\n{report}"),
        });
    }
    Ok(())
}
