//! The disk of the typed file system: what `[storage]` of the description says its
//! root directory carries, and a store of the chosen backend made to that plan in an
//! image file (`cargo xtask image` writes `target/images/disk.img`): the native
//! store, holding the initial image in `/boot` (the layout is
//! `ethos_core::initial_image::boot_disk`'s), or for `rump` an empty FFS file system
//! made by NetBSD's `makefs` with the root's record (`ethos_fs_rump::image`). An FFS
//! disk gets no `/boot`: writing one needs a rump kernel on the host, which the
//! host tools do not link; a kernel booted on it starts from its embedded image.

use std::path::Path;

use ethos_abi::drivers::Backend;
use ethos_core::initial_image::boot_disk;
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
        let label = storage.root_label.get_ref();
        if label == boot_disk::BOOT_LABEL || label == boot_disk::KEYS_LABEL {
            return Err(self.error_at(
                storage.root_label.span(),
                format!("[storage] root_label: `{label}` is the label of the disk's /boot"),
            ));
        }
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

/// Makes a store of the plan's backend in a new image file at `path` (replacing what
/// was there). A native one gets `boot` — the entries of a packed initial image, as
/// `ethos_core::initial_image::archive_entries` gives them — in its `/boot`, and is
/// checked; with no entries it is left empty (no `/boot`): the kernel then starts
/// from the image embedded in it. An FFS one is left empty.
pub fn make_disk(plan: &DiskPlan, boot: &[(String, &[u8])], path: &Path) -> Result<(), XtaskError> {
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
    let mut store =
        native::format(device, &plan.root, now).map_err(|error| XtaskError::BadImage {
            path: path.to_path_buf(),
            problem: format!("the store cannot be made: {error}"),
        })?;
    if !boot.is_empty() {
        boot_disk::write(&mut store, boot, now).map_err(|error| XtaskError::BadImage {
            path: path.to_path_buf(),
            problem: format!("the initial image cannot be written to it: {error}"),
        })?;
    }
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

#[cfg(test)]
mod tests {
    use ethos_core::initial_image::{self, boot_disk};

    use super::*;

    /// The workspace image, written to a disk as `cargo xtask image` writes it, reads
    /// back off the disk as the image the kernel embeds, and the listing shows `/boot`.
    #[test]
    fn the_workspace_image_round_trips_through_a_disk() {
        let description = LoadedDescription::load_default().unwrap();
        let plan = description
            .disk_plan()
            .unwrap()
            .expect("the workspace has a store");
        let bytes = description.pack_with_stand_ins().unwrap();
        let entries = initial_image::archive_entries(&bytes).unwrap();
        let path = std::env::temp_dir().join(format!("ethos-boot-disk-{}.img", std::process::id()));
        make_disk(&plan, &entries, &path).unwrap();
        let lines = list(&path).unwrap();
        let device = FileDevice::open_read_only(&path).unwrap();
        let mut store = native::mount(device).unwrap();
        let on_disk = boot_disk::read_disk(&mut store).unwrap().expect("/boot");
        std::fs::remove_file(&path).unwrap();
        let from_disk = boot_disk::read_image(&on_disk, &bytes).unwrap();
        let embedded = initial_image::read(&bytes).unwrap();
        assert_eq!(format!("{from_disk:?}"), format!("{embedded:?}"));
        assert_eq!(
            format!("{:?}", from_disk.configuration.policy),
            format!("{:?}", embedded.configuration.policy)
        );
        assert_eq!(from_disk.executables, embedded.executables);
        for directory in boot_disk::BootDirectory::ALL {
            let path = directory.path();
            assert!(
                lines.iter().any(|line| line
                    .starts_with(&format!("{path}  directory, label {}", directory.label()))),
                "{path} in {lines:#?}"
            );
        }
        assert!(lines.iter().any(|line| line.starts_with("/boot/policy  ")));
    }

    #[test]
    fn a_store_whose_root_has_boots_label_is_refused() {
        let directory =
            std::env::temp_dir().join(format!("ethos-boot-label-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("notes.etn"), "Note string\n").unwrap();
        let text = "\
[[types]]
file = \"notes.etn\"

[storage]
backend = \"native\"
root_label = \"boot\"
root_type = \"Note\"
";
        let path = directory.join("image.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = LoadedDescription::load(&path).unwrap();
        let error = loaded.disk_plan().unwrap_err().to_string();
        std::fs::remove_dir_all(&directory).unwrap();
        assert!(
            error.contains("[storage] root_label: `boot` is the label of the disk's /boot"),
            "{error}"
        );
    }
}
