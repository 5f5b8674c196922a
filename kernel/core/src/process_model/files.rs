//! The typed file system's calls on the model's side: `readVar`, `writeVar`,
//! `createDirectory`, `openDirectory`, `getNextName`, `fileInformation` and
//! `removeDirectoryOrFile`.
//!
//! Directories are objects a descriptor names, like connections: every process
//! starts with the root directory at [`reserved::ROOT_DIRECTORY`] when the kernel
//! has a store, and `openDirectory` hands out more. A directory's label and type
//! hash are fixed when it is made. Each call checks, in this order, before the store
//! is asked to change anything:
//! 1. the descriptor names a directory and carries the call's descriptor right
//!    (`read` for looking, `write` for changing);
//! 2. the policy grants the caller's user and program the call's label right on the
//!    directory's label (`read`; `write` to replace a file; `create` to make a file
//!    or a directory; `remove` to remove one);
//! 3. for `writeVar`, the value is one of the directory's type (the recognizer);
//!    for `createDirectory`, the kernel knows the type and the label is a valid
//!    label.
//!
//! The labels of the initial image on the disk (`/boot`, see
//! [`crate::initial_image::boot_disk`]) are the kernel's, whatever the policy says:
//! under `boot` a program may at most read, under `boot-keys` it may do nothing, no
//! program makes a directory with either label, and no program makes the name
//! `boot` in the root. So no program reads a private key or changes what the next
//! boot starts from.
//!
//! A value read back is recognized again before a program sees it: a disk another
//! system wrote (the rump backend's FFS can be written by any NetBSD) must not hand
//! a program ill-formed bytes. A refused call changes nothing. The store does the
//! calls synchronously under the model's lock; the events `readVar` and `writeVar`
//! return are complete when the call answers.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use ethos_abi::arguments::reserved;
use ethos_abi::arguments::results::file_information;
use ethos_abi::{DescriptorNumber, DescriptorRights, EventId, LabelRights, ProcessId, Status};
use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Information, Name, Store};
use ethos_typesys::recognizer::{Direction, recognize};
use ethos_typesys::{TypeGraph, TypeHash};

use super::descriptors::{Capability, Object};
use super::identity::Label;
use super::model::ProcessModel;
use crate::initial_image::boot_disk;

/// The rights the root descriptor carries: everything a directory allows.
pub const DIRECTORY_RIGHTS: DescriptorRights = DescriptorRights::READ
    .union(DescriptorRights::WRITE)
    .union(DescriptorRights::TRANSFER)
    .union(DescriptorRights::COPY);

/// The store behind the calls, with what the model keeps beside it.
pub(super) struct FileSystem {
    pub(super) store: Box<dyn Store + Send>,
    /// The types of `/boot`'s directories, which are the kernel's, not the image's:
    /// what a value read there is recognized by.
    boot_types: Option<TypeGraph<'static>>,
}

impl ProcessModel {
    /// Gives the model its store. From then on every new process starts with the
    /// root directory at [`reserved::ROOT_DIRECTORY`]; processes that exist keep
    /// what they hold.
    pub fn attach_store(&mut self, store: Box<dyn Store + Send>) {
        self.files = Some(FileSystem {
            store,
            boot_types: boot_disk::boot_types().ok(),
        });
    }

    /// Whether the model has a store.
    pub fn has_store(&self) -> bool {
        self.files.is_some()
    }

    /// The store, for the platform's checks at shutdown (for example a final
    /// consistency check of the disk).
    pub fn store_mut(&mut self) -> Option<&mut (dyn Store + Send + 'static)> {
        self.files.as_mut().map(|files| &mut *files.store)
    }

    /// The root descriptor a new process gets, if the model has a store.
    pub(super) fn root_capability(&self) -> Option<Capability> {
        self.files.as_ref().map(|_| Capability {
            object: Object::Directory(DirectoryId::ROOT),
            rights: DIRECTORY_RIGHTS,
        })
    }

    /// The directory `descriptor` names, if it carries `needed`, and its record;
    /// checks the policy grants `label_right` on the directory's label.
    fn directory_for(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        needed: DescriptorRights,
        label_right: LabelRights,
    ) -> Result<(DirectoryId, DirectoryRecord), Status> {
        self.store()?;
        let capability = self
            .process(process)?
            .descriptors
            .require(descriptor, needed)?;
        let Object::Directory(directory) = capability.object else {
            return Err(Status::WrongObject);
        };
        let files = self.files.as_mut().ok_or(Status::NotSupported)?;
        let record = files.store.directory(directory)?;
        self.authorize_file(process, &record, label_right)?;
        Ok((directory, record))
    }

    /// The policy's decision on `right` under a directory carrying `record`, with the
    /// kernel's own rule for `/boot`'s labels first.
    fn authorize_file(
        &self,
        process: ProcessId,
        record: &DirectoryRecord,
        right: LabelRights,
    ) -> Result<(), Status> {
        let kernel_only = match record.label.as_str() {
            boot_disk::KEYS_LABEL => true,
            boot_disk::BOOT_LABEL => right != LabelRights::READ,
            _ => false,
        };
        if kernel_only {
            return Err(Status::NotAuthorized);
        }
        self.authorize(process, &label_of(record)?, right)
    }

    /// [`ProcessModel::directory_for`] for looking: the descriptor's `read` right
    /// and the label's `read` right.
    fn readable(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
    ) -> Result<(DirectoryId, DirectoryRecord), Status> {
        self.directory_for(
            process,
            descriptor,
            DescriptorRights::READ,
            LabelRights::READ,
        )
    }

    fn store(&mut self) -> Result<&mut (dyn Store + Send + 'static), Status> {
        self.store_mut().ok_or(Status::NotSupported)
    }

    /// Checks `value` against the type whose hash is `type_hash`: one of the image's
    /// types, or of `/boot`'s directories (which only the kernel writes).
    fn check_file_type(&self, type_hash: &[u8; 64], value: &[u8]) -> Result<(), Status> {
        let hash = TypeHash(*type_hash);
        let boot_types = self
            .files
            .as_ref()
            .and_then(|files| files.boot_types.as_ref());
        let (types, root) = match self.types.find(&hash) {
            Some(root) => (&self.types, root),
            None => boot_types
                .and_then(|types| Some((types, types.find(&hash)?)))
                .ok_or(Status::InvalidType)?,
        };
        recognize(types, root, Direction::Request, value).map_err(|_| Status::InvalidType)
    }

    /// `readVar(directory, name)`: an event completed with the file's value.
    pub fn read_var(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
    ) -> Result<EventId, Status> {
        let value = self.checked_value(process, descriptor, name)?;
        self.completed_value(process, value)
    }

    /// `signFile(directory, name)`: an event completed with the signature of the
    /// file's value by the key of `process`'s user, then that user's public key, as
    /// [`ProcessModel::sign`] makes it of the same value. The file is read under
    /// `readVar`'s checks; a user whose key this host does not hold is refused
    /// before anything is read.
    pub fn sign_file(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
        random: &[u8; ethos_crypto::SIGNATURE_RANDOM_LENGTH],
    ) -> Result<EventId, Status> {
        self.user_key(self.user_of(process)?)
            .ok_or(Status::NotAuthorized)?;
        let value = self.checked_value(process, descriptor, name)?;
        self.sign(process, &value, random)
    }

    /// The value of file `name` in the directory `descriptor` names, read under
    /// `readVar`'s checks and recognized against the directory's type.
    fn checked_value(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
    ) -> Result<Vec<u8>, Status> {
        let name = file_name(name)?;
        let (directory, record) = self.readable(process, descriptor)?;
        // A value the caller may not hold is refused before the kernel reads it in.
        let size = self.store()?.information(directory, &name)?.size;
        let size = usize::try_from(size).map_err(|_| Status::NoMemory)?;
        self.ensure_room_for(process, ethos_abi::arguments::EVENT_KERNEL_BYTES + size)?;
        let value = self.store()?.read_file(directory, &name)?;
        self.check_file_type(&record.type_hash, &value)
            .map_err(|_| Status::StorageFailed)?;
        Ok(value)
    }

    /// `writeVar(directory, name, value)`: the file holds `value` when the call
    /// answers; an event completed with nothing.
    pub fn write_var(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
        value: &[u8],
        now: u64,
    ) -> Result<EventId, Status> {
        let name = file_name(name)?;
        self.store()?;
        let capability = self
            .process(process)?
            .descriptors
            .require(descriptor, DescriptorRights::WRITE)?;
        let Object::Directory(directory) = capability.object else {
            return Err(Status::WrongObject);
        };
        let store = self.store()?;
        let record = store.directory(directory)?;
        let needed = match store.lookup(directory, &name) {
            Ok(Entry::File) => LabelRights::WRITE,
            Ok(Entry::Directory(_)) => return Err(Status::WrongObject),
            Err(ethos_fs::StoreError::NotFound) => LabelRights::CREATE,
            Err(error) => return Err(error.into()),
        };
        self.authorize_file(process, &record, needed)?;
        refuse_boot_name(directory, &name)?;
        self.check_file_type(&record.type_hash, value)?;
        // The event is made before the store changes: a process out of room for it
        // is refused with nothing written.
        self.ensure_room_for(process, ethos_abi::arguments::EVENT_KERNEL_BYTES)?;
        self.store()?.write_file(directory, &name, value, now)?;
        self.completed_value(process, Vec::new())
    }

    /// `createDirectory(directory, name, label, type)`.
    pub fn create_directory(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
        label: &str,
        type_hash: &[u8; 64],
        now: u64,
    ) -> Result<(), Status> {
        let name = file_name(name)?;
        let label = Label::new(label).map_err(|_| Status::InvalidArgument)?;
        let (directory, _) = self.directory_for(
            process,
            descriptor,
            DescriptorRights::WRITE,
            LabelRights::CREATE,
        )?;
        refuse_boot_name(directory, &name)?;
        if reserved_label(label.as_str()) {
            return Err(Status::NotAuthorized);
        }
        if self.types.find(&TypeHash(*type_hash)).is_none() {
            return Err(Status::InvalidType);
        }
        let record = DirectoryRecord {
            label: String::from(label.as_str()),
            type_hash: *type_hash,
        };
        self.store()?
            .create_directory(directory, &name, &record, now)?;
        Ok(())
    }

    /// `openDirectory(directory, name)`: a new descriptor for the directory `name`,
    /// with the rights of the descriptor it was opened through.
    pub fn open_directory(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
    ) -> Result<DescriptorNumber, Status> {
        let name = file_name(name)?;
        let (directory, _) = self.readable(process, descriptor)?;
        let rights = self.process(process)?.descriptors.get(descriptor)?.rights;
        let Entry::Directory(child) = self.store()?.lookup(directory, &name)? else {
            return Err(Status::WrongObject);
        };
        self.process_mut(process)?.descriptors.install(Capability {
            object: Object::Directory(child),
            rights,
        })
    }

    /// `getNextName(directory, after)`: the next name after `after` (the first
    /// when `after` is empty), or `None` past the last.
    pub fn next_name(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        after: &str,
    ) -> Result<Option<String>, Status> {
        let after = match after {
            "" => None,
            text => Some(file_name(text)?),
        };
        let (directory, _) = self.readable(process, descriptor)?;
        let next = self.store()?.next_name(directory, after.as_ref())?;
        Ok(next.map(|name| String::from(name.as_str())))
    }

    /// `fileInformation(directory, name)`: the bytes laid out as
    /// [`file_information`] says.
    pub fn file_information(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
    ) -> Result<Vec<u8>, Status> {
        let name = file_name(name)?;
        let (directory, _) = self.readable(process, descriptor)?;
        let information = self.store()?.information(directory, &name)?;
        Ok(encode_information(&information))
    }

    /// `removeDirectoryOrFile(directory, name)`.
    pub fn remove_directory_or_file(
        &mut self,
        process: ProcessId,
        descriptor: DescriptorNumber,
        name: &str,
    ) -> Result<(), Status> {
        let name = file_name(name)?;
        let (directory, _) = self.directory_for(
            process,
            descriptor,
            DescriptorRights::WRITE,
            LabelRights::REMOVE,
        )?;
        refuse_boot_name(directory, &name)?;
        self.store()?.remove(directory, &name)?;
        Ok(())
    }

    /// Whether `descriptor` names the root directory, for `exec`, whose programs
    /// are still the initial image's (see [`super::lifecycle`]).
    pub(super) fn names_root(&self, process: ProcessId, descriptor: DescriptorNumber) -> bool {
        match self
            .process(process)
            .and_then(|running| running.descriptors.get(descriptor))
        {
            Ok(capability) => capability.object == Object::Directory(DirectoryId::ROOT),
            // Without a store there is no root object: the number alone names it.
            Err(_) => self.files.is_none() && descriptor.get() == reserved::ROOT_DIRECTORY,
        }
    }
}

/// Whether `label` is one of `/boot`'s, which only the kernel gives.
fn reserved_label(label: &str) -> bool {
    label == boot_disk::BOOT_LABEL || label == boot_disk::KEYS_LABEL
}

/// Refuses the name of `/boot` in the root: only the host tools make it.
fn refuse_boot_name(directory: DirectoryId, name: &Name) -> Result<(), Status> {
    if directory == DirectoryId::ROOT && name.as_str() == boot_disk::BOOT {
        return Err(Status::NotAuthorized);
    }
    Ok(())
}

/// A name a program gave, as the store's.
fn file_name(text: &str) -> Result<Name, Status> {
    super::identity::check_name(text).map_err(|_| Status::InvalidArgument)?;
    Name::new(text).map_err(|_| Status::InvalidArgument)
}

/// A directory's label as the policy's. A store's label that is no valid label
/// (a damaged or foreign disk) matches no grant.
fn label_of(record: &DirectoryRecord) -> Result<Label, Status> {
    Label::new(&record.label).map_err(|_| Status::NotAuthorized)
}

fn encode_information(information: &Information) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(file_information::LABEL + information.label.len());
    bytes.push(match information.entry {
        Entry::File => file_information::FILE,
        Entry::Directory(_) => file_information::DIRECTORY,
    });
    bytes.resize(file_information::SIZE, 0);
    bytes.extend_from_slice(&information.size.to_le_bytes());
    bytes.extend_from_slice(&information.created.to_le_bytes());
    bytes.extend_from_slice(&information.modified.to_le_bytes());
    bytes.extend_from_slice(&information.type_hash);
    bytes.extend_from_slice(information.label.as_bytes());
    bytes
}
