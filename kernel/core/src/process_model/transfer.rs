//! Passing capabilities between users: `fdSend` queues copies of descriptors for the
//! virtual process named (user, program), made on first use; `fdReceive` collects
//! them into the caller's table.
//!
//! Only descriptors carrying the transfer right can be sent, and only a process whose
//! (user, program) the policy grants `FD_RECEIVE` on its program's label can collect
//! them, and then only those sent to its own (user, program). A batch is delivered
//! whole or not at all. This module must never let a process take descriptors sent
//! to another user or another program.

use alloc::vec::Vec;

use ethos_abi::arguments::MAXIMUM_FD_SEND;
use ethos_abi::{DescriptorNumber, DescriptorRights, EventId, LabelRights, ProcessId, Status};

use super::descriptors::Capability;
use super::events::{Outcome, Waiting};
use super::identity::{ProgramId, ProgramName, UserName};
use super::model::{Batch, ProcessModel};

/// Most batches waiting for one virtual process.
pub const VIRTUAL_PROCESS_BATCHES: usize = 256;

impl ProcessModel {
    /// `fdSend`: queues copies of `descriptors` for the virtual process (user, program).
    pub fn fd_send(
        &mut self,
        process: ProcessId,
        descriptors: &[DescriptorNumber],
        user: &UserName,
        program: &ProgramName,
    ) -> Result<(), Status> {
        if descriptors.is_empty() || descriptors.len() as u64 > MAXIMUM_FD_SEND {
            return Err(Status::InvalidArgument);
        }
        let table = &self.process(process)?.descriptors;
        let batch = descriptors
            .iter()
            .map(|number| table.require(*number, DescriptorRights::TRANSFER))
            .collect::<Result<Vec<Capability>, Status>>()?;
        if !self.users.contains_key(user) {
            return Err(Status::NoSuchObject);
        }
        let program = *self
            .program_names
            .get(program)
            .ok_or(Status::NoSuchObject)?;
        let key = (user.clone(), program);
        let batch = Batch {
            capabilities: batch,
            payer: process,
        };
        // The descriptors in flight are charged to the sender until received.
        self.ensure_room_for(process, batch.charge())?;
        let queue = &mut self.virtual_processes.entry(key.clone()).or_default().queue;
        if queue.len() >= VIRTUAL_PROCESS_BATCHES {
            return Err(Status::LimitReached);
        }
        queue.push_back(batch.clone());
        for capability in &batch.capabilities {
            self.retain(capability.object);
        }
        self.pay(process, batch.charge());
        self.deliver_batches(&key);
        Ok(())
    }

    /// `fdReceive`: an event that completes with the next batch sent to the caller's
    /// (user, program).
    pub fn fd_receive(&mut self, process: ProcessId) -> Result<EventId, Status> {
        let running = self.process(process)?;
        let (user, program) = (running.user.clone(), running.program);
        let label = self
            .programs
            .get(&program)
            .ok_or(Status::NoSuchObject)?
            .label
            .clone();
        self.authorize(process, &label, LabelRights::FD_RECEIVE)?;
        let event = self.new_pending(process, Waiting::FdReceive)?;
        let key = (user, program);
        self.virtual_processes
            .entry(key.clone())
            .or_default()
            .receivers
            .push_back((process, event));
        self.deliver_batches(&key);
        Ok(event)
    }

    fn deliver_batches(&mut self, key: &(UserName, ProgramId)) {
        loop {
            let Some(virtual_process) = self.virtual_processes.get_mut(key) else {
                return;
            };
            let (Some(&waiter), false) = (
                virtual_process.receivers.front(),
                virtual_process.queue.is_empty(),
            ) else {
                return;
            };
            virtual_process.receivers.pop_front();
            if !self.still_waiting(waiter) {
                continue;
            }
            let Some(batch) = self
                .virtual_processes
                .get_mut(key)
                .and_then(|virtual_process| virtual_process.queue.pop_front())
            else {
                return;
            };
            let mut installed = Vec::with_capacity(batch.capabilities.len());
            let mut failure = None;
            for capability in &batch.capabilities {
                match self.install_counted(waiter.0, *capability) {
                    Ok(number) => installed.push(number),
                    Err(status) => {
                        failure = Some(status);
                        break;
                    }
                }
            }
            match failure {
                None => {
                    self.refund(batch.payer, batch.charge());
                    self.complete(waiter, Outcome::Descriptors(installed));
                }
                Some(status) => {
                    // Whole or nothing: take back what went in and requeue the batch
                    // for the next receiver.
                    if let Ok(running) = self.process_mut(waiter.0) {
                        for number in installed {
                            let _ = running.descriptors.remove(number);
                        }
                    }
                    if let Some(virtual_process) = self.virtual_processes.get_mut(key) {
                        virtual_process.queue.push_front(batch);
                    }
                    self.complete(waiter, Outcome::Failed(status));
                }
            }
        }
    }
}
