//! Process lifecycle calls on the model's side: `fork`, `exec` and `kill`.
//!
//! Address spaces and registers are the platform's; this module keeps what the model
//! owns consistent. A child of `fork` runs the same program for the same user and
//! holds a copy of every descriptor (each copy counts a reference); it inherits no
//! events, because an event's waiter is one process. `exec` changes a process's
//! program, and so its identity before the policy, but never its user or its
//! descriptors. `kill` ends another process of the same user: there is no superuser.
//! Nothing here may change a process's user.

use ethos_abi::{DescriptorNumber, ProcessId, Status};

use super::events::EventTable;
use super::identity::ProgramName;
use super::model::{Process, ProcessModel};

impl ProcessModel {
    /// `fork`: a new process like `parent`, with a copy of its descriptor table.
    pub fn fork_process(&mut self, parent: ProcessId) -> Result<ProcessId, Status> {
        let (user, program, descriptors) = {
            let running = self.process(parent)?;
            (
                running.user.clone(),
                running.program,
                running.descriptors.clone(),
            )
        };
        let objects: alloc::vec::Vec<_> = descriptors
            .iter()
            .map(|(_, capability)| capability.object)
            .collect();
        for object in objects {
            self.retain(object);
        }
        let child = self.allocate_process();
        self.processes.insert(
            child,
            Process {
                user,
                program,
                descriptors,
                events: EventTable::new(),
                paid: 0,
            },
        );
        Ok(child)
    }

    /// `exec(directory, name)`: the process runs `name` from the initial image's
    /// `/programs` next. `directory` must name the root directory: programs are the
    /// initial image's, not files of the store yet. Answers the program's name, for
    /// the platform to load.
    pub fn exec(
        &mut self,
        process: ProcessId,
        directory: DescriptorNumber,
        name: &ProgramName,
    ) -> Result<(), Status> {
        self.process(process)?;
        if !self.names_root(process, directory) {
            return Err(Status::NoSuchObject);
        }
        let program = *self.program_names.get(name).ok_or(Status::NoSuchObject)?;
        self.process_mut(process)?.program = program;
        Ok(())
    }

    /// `kill(target)`: ends `target` if it runs for the same user as `killer`.
    pub fn kill(&mut self, killer: ProcessId, target: ProcessId) -> Result<(), Status> {
        let user = self.process(killer)?.user.clone();
        if self.process(target)?.user != user {
            return Err(Status::NotAuthorized);
        }
        self.end_process(target)
    }

    /// Every process the model holds, for the platform's bookkeeping checks.
    pub fn processes(&self) -> impl Iterator<Item = ProcessId> + '_ {
        self.processes.keys().copied()
    }
}
