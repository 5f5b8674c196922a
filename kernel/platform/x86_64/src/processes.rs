//! The kernel's processes as the platform holds them: the installed process model
//! with the program images `spawn` and `exec` load (how a process ended is the
//! core's `ending::Ending`).
//!
//! The scheduler and the user-mode shells both reach the model here, so neither
//! needs the other for it. Lock order: `scheduler::SCHEDULER` before [`SYSTEM`].

use alloc::collections::BTreeMap;

use ethos_core::process_model::ProcessModel;
use ethos_core::process_model::identity::ProgramName;
use ethos_core::program_image::Image;
use spin::Mutex;
use x86_64::instructions::interrupts;

use crate::memory;

pub use ethos_core::ending::Ending;

/// The process model and the programs its processes may run.
pub(crate) struct System {
    pub(crate) model: ProcessModel,
    pub(crate) programs: BTreeMap<ProgramName, Image<'static>>,
}

/// The kernel's process model, once installed. Locked after [`SCHEDULER`].
pub(crate) static SYSTEM: Mutex<Option<System>> = Mutex::new(None);

/// Makes `model` the kernel's process model, with `programs` the images `spawn`
/// and `exec` load by name, replacing any earlier one. No process may be running.
/// The model's per-process kernel memory limit is fitted to this kernel's heap
/// first (logged when it is lowered), so no process can hold more than its share.
pub fn install(mut model: ProcessModel, programs: BTreeMap<ProgramName, Image<'static>>) {
    if let Some(lowered) = model.fit_kernel_memory_limit(memory::heap_size()) {
        tracing::info!("{lowered}");
    }
    interrupts::without_interrupts(|| *SYSTEM.lock() = Some(System { model, programs }));
}

/// Runs `action` on the installed process model, if there is one. Not inside a
/// system call (the model is locked there).
pub fn with_model<T>(action: impl FnOnce(&mut ProcessModel) -> T) -> Option<T> {
    interrupts::without_interrupts(|| {
        SYSTEM
            .lock()
            .as_mut()
            .map(|system| action(&mut system.model))
    })
}
