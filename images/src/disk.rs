//! The disk of the typed file system: what `[storage]` of the description says its
//! root directory carries, and an empty native store made to that plan in an image
//! file (`cargo xtask image` writes `target/images/disk.img`).

use std::path::Path;

use ethos_fs::native::{self, FILE_BLOCK_SIZE, FileDevice};
use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Name, Store, StoreError};

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
        }))
    }
}

/// Makes an empty native store to `plan` in a new image file at `path` (replacing
/// what was there), and checks it.
pub fn make_disk(plan: &DiskPlan, path: &Path) -> Result<(), XtaskError> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory).at(directory)?;
    }
    let blocks = plan.bytes / FILE_BLOCK_SIZE as u64;
    let device = FileDevice::create(path, blocks).at(path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
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

/// What a disk holds, one line per directory and file, depth first in name order:
/// a directory with its label and the start of its type hash, a file with its size.
/// The store is mounted from the image file and only read.
pub fn list(path: &Path) -> Result<Vec<String>, XtaskError> {
    let bad = |problem: String| XtaskError::BadImage {
        path: path.to_path_buf(),
        problem,
    };
    let device = FileDevice::open_read_only(path).at(path)?;
    let mut store = native::mount(device).map_err(|error| bad(error.to_string()))?;
    let usage = store.usage();
    let mut lines = vec![format!(
        "native store: {} of {} blocks of {} bytes used",
        usage.used, usage.blocks, usage.block_size
    )];
    let root = store
        .directory(DirectoryId::ROOT)
        .map_err(|error| bad(error.to_string()))?;
    lines.push(directory_line("/", &root));
    list_directory(&mut store, DirectoryId::ROOT, "", &mut lines)
        .map_err(|error| bad(error.to_string()))?;
    Ok(lines)
}

fn directory_line(path: &str, record: &DirectoryRecord) -> String {
    let hash: String = record.type_hash[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{path}  directory, label {}, type {hash}…", record.label)
}

fn list_directory(
    store: &mut dyn Store,
    directory: DirectoryId,
    prefix: &str,
    lines: &mut Vec<String>,
) -> Result<(), StoreError> {
    let mut after: Option<Name> = None;
    while let Some(name) = store.next_name(directory, after.as_ref())? {
        let path = format!("{prefix}/{name}");
        match store.lookup(directory, &name)? {
            Entry::File => {
                let information = store.information(directory, &name)?;
                lines.push(format!("{path}  {} bytes", information.size));
            }
            Entry::Directory(child) => {
                lines.push(directory_line(&path, &store.directory(child)?));
                list_directory(store, child, &path, lines)?;
            }
        }
        after = Some(name);
    }
    Ok(())
}
