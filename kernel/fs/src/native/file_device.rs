//! A block device over an image file, for host tools that format or check images.
//! Only with the `std` feature; the kernel never has it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use ethos_devices::{BlockDevice, BlockError, check_block_request};

/// The block size of every image file.
pub const FILE_BLOCK_SIZE: usize = 512;

/// An image file seen as 512-byte blocks (a trailing partial block is ignored).
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    blocks: u64,
    read_only: bool,
}

impl FileDevice {
    /// Opens an existing image for reading and writing.
    pub fn open(path: &Path) -> io::Result<FileDevice> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::from_file(file, false)
    }

    /// Opens an existing image for reading only (writes answer `ReadOnly`).
    pub fn open_read_only(path: &Path) -> io::Result<FileDevice> {
        Self::from_file(File::open(path)?, true)
    }

    /// Makes (or empties) an image of `blocks` zeroed blocks.
    pub fn create(path: &Path, blocks: u64) -> io::Result<FileDevice> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(blocks * FILE_BLOCK_SIZE as u64)?;
        Self::from_file(file, false)
    }

    fn from_file(file: File, read_only: bool) -> io::Result<FileDevice> {
        let blocks = file.metadata()?.len() / FILE_BLOCK_SIZE as u64;
        Ok(FileDevice {
            file,
            blocks,
            read_only,
        })
    }

    fn seek(&mut self, first_block: u64) -> Result<(), BlockError> {
        self.file
            .seek(SeekFrom::Start(first_block * FILE_BLOCK_SIZE as u64))
            .map(|_| ())
            .map_err(|_| BlockError::Io { first_block })
    }
}

impl BlockDevice for FileDevice {
    fn block_size(&self) -> usize {
        FILE_BLOCK_SIZE
    }

    fn capacity_blocks(&self) -> u64 {
        self.blocks
    }

    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        check_block_request(first_block, buffer.len(), FILE_BLOCK_SIZE, self.blocks)?;
        self.seek(first_block)?;
        self.file
            .read_exact(buffer)
            .map_err(|_| BlockError::Io { first_block })
    }

    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        check_block_request(first_block, data.len(), FILE_BLOCK_SIZE, self.blocks)?;
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        self.seek(first_block)?;
        self.file
            .write_all(data)
            .map_err(|_| BlockError::Io { first_block })
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data().map_err(|_| BlockError::Device)
    }
}
