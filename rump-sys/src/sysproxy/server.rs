//! The system call proxy server: a listening socket, one thread per connected client that
//! reads its frames, and one thread per system call in progress. A client process is made
//! with the `hyp_lwproc_rfork` upcall at its handshake, and each system call runs on a
//! fresh lwp of it through `hyp_syscall`; the rump kernel reaches back into the client's
//! memory through the `rumpuser_sp_*` hypercalls, which become requests on the client's
//! connection answered by its reader thread.
//!
//! No thread here holds one of this module's locks across an upcall, and none blocks on
//! the network while holding a virtual CPU.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ffi::{c_long, c_void};
use core::ptr;
use std::ffi::CString;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use super::SysproxyError;
use super::address::ListenAddress;
use super::wire::{self, Class, HANDSHAKE_GUEST, HEADER_LENGTH, Header, Kind, ProtocolError};
use crate::upcall::{self, remote};

/// `RUMP_RFFD_CLEAR`: a guest starts with no file descriptors.
const FORK_CLEAR_DESCRIPTORS: i32 = 0x02;

/// The one server of the process.
static SERVER: OnceLock<Server> = OnceLock::new();

std::thread_local! {
    /// The system call request the calling worker thread is serving, for `rumpuser_sp_fini`.
    static SERVING: Cell<u64> = const { Cell::new(0) };
}

struct Server {
    address: ListenAddress,
    listener_handle: RawFd,
    finishing: AtomicBool,
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn raw(&self) -> RawFd {
        match self {
            Stream::Unix(stream) => stream.as_raw_fd(),
            Stream::Tcp(stream) => stream.as_raw_fd(),
        }
    }

    fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Unix(stream) => Stream::Unix(stream.try_clone()?),
            Stream::Tcp(stream) => Stream::Tcp(stream.try_clone()?),
        })
    }

    fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(stream) => stream.shutdown(Shutdown::Both),
            Stream::Tcp(stream) => stream.shutdown(Shutdown::Both),
        };
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> std::io::Result<()> {
        match self {
            Stream::Unix(stream) => stream.read_exact(buffer),
            Stream::Tcp(stream) => stream.read_exact(buffer),
        }
    }

    /// Sends all of `bytes` without raising SIGPIPE if the peer is gone.
    fn send_all(&self, mut bytes: &[u8]) -> Result<(), SysproxyError> {
        while !bytes.is_empty() {
            // SAFETY: `bytes` is readable for its length; the descriptor is this stream's.
            let sent = unsafe {
                libc::send(
                    self.raw(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            match usize::try_from(sent) {
                Ok(0) => return Err(SysproxyError::NotConnected),
                Ok(count) => bytes = &bytes[count..],
                Err(_) => {
                    let error = std::io::Error::last_os_error();
                    if error.kind() != std::io::ErrorKind::Interrupted {
                        return Err(SysproxyError::NotConnected);
                    }
                }
            }
        }
        Ok(())
    }
}

/// One connected client: the rump kernel holds a pointer to it (the cookie of
/// `hyp_lwproc_rfork`) for as long as the client's process exists.
pub(super) struct Client {
    /// The sending half; `None` once the client is gone. Frames are sent whole under it.
    sender: Mutex<Option<Stream>>,
    state: Mutex<ClientState>,
    changed: Condvar,
}

#[derive(Default)]
struct ClientState {
    next_request: u64,
    /// Requests to the client awaiting a reply, and the reply once it came.
    replies: BTreeMap<u64, Option<Result<Vec<u8>, SysproxyError>>>,
    gone: bool,
    /// The client process's first lwp (its identity), as an address; 0 before handshake.
    main_lwp: usize,
    pid: i32,
    system_calls: u32,
}

impl Client {
    fn state(&self) -> MutexGuard<'_, ClientState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn send(&self, header: Header, body: &[&[u8]]) -> Result<(), SysproxyError> {
        let mut frame = Vec::with_capacity(header.length as usize);
        frame.extend_from_slice(&header.encode());
        for part in body {
            frame.extend_from_slice(part);
        }
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sender
            .as_ref()
            .ok_or(SysproxyError::NotConnected)?
            .send_all(&frame)
    }

    fn next_request(&self) -> u64 {
        let mut state = self.state();
        state.next_request += 1;
        state.next_request
    }

    /// Sends a request the client does not answer.
    pub(super) fn notify(
        &self,
        kind: Kind,
        word: u32,
        body: &[&[u8]],
    ) -> Result<(), SysproxyError> {
        let length = body.iter().map(|part| part.len()).sum();
        let header = Header::new(Class::Request, kind, self.next_request(), word, length);
        self.send(header, body)
    }

    /// Sends a request and waits for the client's reply. The caller holds no virtual CPU.
    pub(super) fn request(&self, kind: Kind, body: &[u8]) -> Result<Vec<u8>, SysproxyError> {
        let number = {
            let mut state = self.state();
            if state.gone {
                return Err(SysproxyError::NotConnected);
            }
            state.next_request += 1;
            let number = state.next_request;
            state.replies.insert(number, None);
            number
        };
        let header = Header::new(Class::Request, kind, number, 0, body.len());
        if let Err(error) = self.send(header, &[body]) {
            self.state().replies.remove(&number);
            return Err(error);
        }
        let mut state = self.state();
        loop {
            if let Some(Some(_)) = state.replies.get(&number) {
                return state
                    .replies
                    .remove(&number)
                    .flatten()
                    .unwrap_or(Err(SysproxyError::NotConnected));
            }
            if state.gone {
                state.replies.remove(&number);
                return Err(SysproxyError::NotConnected);
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn deliver(&self, request: u64, reply: Result<Vec<u8>, SysproxyError>) {
        let mut state = self.state();
        if let Some(slot) = state.replies.get_mut(&request) {
            *slot = Some(reply);
            self.changed.notify_all();
        }
    }

    fn send_error(&self, request: u64, error: ProtocolError) {
        let header = Header {
            length: HEADER_LENGTH as u64,
            request,
            class: Class::Error,
            kind: None,
            word: error as u32,
        };
        let _ = self.send(header, &[]);
    }

    fn send_system_call_reply(&self, request: u64, error: i32, values: [i64; 2]) {
        let header = Header::new(Class::Response, Kind::SystemCall, request, 0, 24);
        let _ = self.send(header, &[&wire::system_call_reply_body(error, values)]);
    }
}

/// Starts listening at `url` and serving clients in the background.
pub(super) fn start(url: &str, banner: Vec<u8>) -> Result<(), SysproxyError> {
    let address = ListenAddress::parse(url)?;
    if SERVER.get().is_some() {
        return Err(SysproxyError::AlreadyServing);
    }
    let listener = match &address {
        ListenAddress::Unix(path) => Listener::Unix(UnixListener::bind(path)?),
        ListenAddress::Tcp(address) => Listener::Tcp(TcpListener::bind(address)?),
    };
    let listener_handle = match &listener {
        Listener::Unix(listener) => listener.as_raw_fd(),
        Listener::Tcp(listener) => listener.as_raw_fd(),
    };
    let server = Server {
        address,
        listener_handle,
        finishing: AtomicBool::new(false),
    };
    SERVER
        .set(server)
        .map_err(|_| SysproxyError::AlreadyServing)?;
    std::thread::Builder::new()
        .name("rump_sp_listen".into())
        .spawn(move || accept_clients(listener, banner))
        .map_err(SysproxyError::from)?;
    Ok(())
}

fn accept_clients(listener: Listener, banner: Vec<u8>) {
    loop {
        let accepted = match &listener {
            Listener::Unix(listener) => listener.accept().map(|(stream, _)| Stream::Unix(stream)),
            Listener::Tcp(listener) => listener.accept().map(|(stream, _)| {
                let _ = stream.set_nodelay(true);
                Stream::Tcp(stream)
            }),
        };
        if SERVER
            .get()
            .is_some_and(|server| server.finishing.load(Ordering::SeqCst))
        {
            return;
        }
        let Ok(stream) = accepted else { continue };
        if stream.send_all(&banner).is_err() {
            continue;
        }
        let Ok(reader) = stream.try_clone() else {
            continue;
        };
        let client = Arc::new(Client {
            sender: Mutex::new(Some(stream)),
            state: Mutex::new(ClientState::default()),
            changed: Condvar::new(),
        });
        let _ = std::thread::Builder::new()
            .name("rump_sp_client".into())
            .spawn(move || serve_client(client, reader));
    }
}

/// Reads a frame; the body is kept in 8-byte words so system call arguments in it are
/// aligned for `register_t`.
fn read_frame(reader: &mut Stream) -> Option<(Header, Vec<u64>)> {
    let mut header_bytes = [0u8; HEADER_LENGTH];
    reader.read_exact(&mut header_bytes).ok()?;
    let header = Header::decode(&header_bytes).ok()?;
    let length = header.body_length();
    let mut body = vec![0u64; length.div_ceil(8)];
    reader
        .read_exact(&mut bytes_of_mut(&mut body)[..length])
        .ok()?;
    Some((header, body))
}

fn bytes_of_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: any bytes are valid u8s; the slice covers exactly the words' memory.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 8) }
}

fn serve_client(client: Arc<Client>, mut reader: Stream) {
    let mut joined = false;
    while let Some((header, mut body)) = read_frame(&mut reader) {
        let length = header.body_length();
        match header.class {
            Class::Response => {
                let mut bytes = bytes_of_mut(&mut body).to_vec();
                bytes.truncate(length);
                client.deliver(header.request, Ok(bytes));
            }
            Class::Error => client.deliver(header.request, Err(SysproxyError::Fault)),
            Class::Request if !joined => {
                if header.kind != Some(Kind::Handshake) || header.word != HANDSHAKE_GUEST {
                    // Forked and exec'd clients (prefork, fork and exec handshakes) are
                    // not served.
                    client.send_error(header.request, ProtocolError::Authentication);
                    break;
                }
                let command = &bytes_of_mut(&mut body)[..length];
                if handshake(&client, header.request, command).is_err() {
                    break;
                }
                joined = true;
            }
            Class::Request if header.kind == Some(Kind::SystemCall) => {
                client.state().system_calls += 1;
                let worker = Arc::clone(&client);
                let spawned = std::thread::Builder::new()
                    .name("rump_sp_syscall".into())
                    .spawn(move || serve_system_call(&worker, header, body));
                if spawned.is_err() {
                    finish_system_call(&client);
                    client.send_system_call_reply(header.request, libc::EAGAIN, [-1, 0]);
                }
            }
            Class::Request => client.send_error(header.request, ProtocolError::MalformedRequest),
        }
    }
    disconnect(&client);
}

/// A guest client becomes a new process of the rump kernel.
fn handshake(client: &Arc<Client>, request: u64, command: &[u8]) -> Result<(), SysproxyError> {
    let name = command.split(|byte| *byte == 0).next().unwrap_or_default();
    let name = CString::new(name).map_err(|_| SysproxyError::Fault)?;
    // The kernel keeps this pointer as the process's link to its client; the reference it
    // stands for is never given back, so the client outlives the process.
    let cookie = Arc::into_raw(Arc::clone(client))
        .cast_mut()
        .cast::<c_void>();
    // SAFETY: `name` is NUL-terminated; `cookie` points to a client that is never freed.
    let error = unsafe { remote::fork_process(cookie, FORK_CLEAR_DESCRIPTORS, name.as_ptr()) };
    if error != 0 {
        // SAFETY: the reference made above, which the kernel did not keep.
        drop(unsafe { Arc::from_raw(cookie.cast::<Client>()) });
        return Err(SysproxyError::NotConnected);
    }
    client.state().main_lwp = remote::current_lwp().expose_provenance();
    let header = Header::new(Class::Response, Kind::Handshake, request, 0, 4);
    let sent = client.send(header, &[&0i32.to_ne_bytes()]);
    client.state().pid = remote::process_id();
    // SAFETY: null detaches the calling thread from the client's lwp.
    unsafe { upcall::switch_thread_lwp(ptr::null_mut()) };
    sent
}

fn serve_system_call(client: &Client, header: Header, mut arguments: Vec<u64>) {
    let pid = client.state().pid;
    let error = remote::new_lwp(pid);
    if error != 0 {
        client.send_system_call_reply(header.request, error, [-1, 0]);
        finish_system_call(client);
        return;
    }
    SERVING.with(|serving| serving.set(header.request));
    let mut values: [c_long; 2] = [0, 0];
    // SAFETY: the argument block as the client laid it out, 8-byte aligned; the kernel
    // checks the system call number and reads pointers in it through copyin.
    let error = unsafe {
        remote::system_call(
            header.word as i32,
            arguments.as_mut_ptr().cast(),
            &mut values,
        )
    };
    SERVING.with(|serving| serving.set(0));
    upcall::release_thread_lwp();
    client.send_system_call_reply(header.request, error, values);
    finish_system_call(client);
}

fn finish_system_call(client: &Client) {
    let mut state = client.state();
    state.system_calls -= 1;
    client.changed.notify_all();
}

/// The client is gone: fail its outstanding requests, make its process's lwps exit, wait
/// for its system calls to return, and drop the process's first lwp.
fn disconnect(client: &Client) {
    if let Some(stream) = client
        .sender
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
    {
        stream.shutdown();
    }
    let main_lwp = {
        let mut state = client.state();
        state.gone = true;
        client.changed.notify_all();
        state.main_lwp
    };
    let main_lwp = ptr::with_exposed_provenance_mut::<crate::abi::Lwp>(main_lwp);
    if !main_lwp.is_null() {
        // SAFETY: the lwp the kernel made for this client at the handshake.
        unsafe { upcall::switch_thread_lwp(main_lwp) };
        remote::exit_lwps();
        // SAFETY: null detaches the thread.
        unsafe { upcall::switch_thread_lwp(ptr::null_mut()) };
    }
    let mut state = client.state();
    while state.system_calls != 0 {
        state = client
            .changed
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    drop(state);
    if !main_lwp.is_null() {
        // SAFETY: as above; releasing it lets the kernel free the process.
        unsafe { upcall::switch_thread_lwp(main_lwp) };
        upcall::release_thread_lwp();
    }
}

/// The rump kernel is halting (`rumpuser_sp_fini`): answer the system call being served on
/// this thread (the reboot) so the client does not wait for a reply that cannot come, stop
/// accepting and remove the socket file.
pub(super) fn finish(client: Option<&Client>) {
    let Some(server) = SERVER.get() else { return };
    if let ListenAddress::Unix(path) = &server.address {
        let _ = std::fs::remove_file(path);
    }
    let request = SERVING.with(Cell::get);
    if let Some(client) = client
        && request != 0
    {
        client.send_system_call_reply(request, 0, [0, 0]);
    }
    server.finishing.store(true, Ordering::SeqCst);
    // SAFETY: shutting down the listening descriptor wakes the blocked accept.
    unsafe { libc::shutdown(server.listener_handle, libc::SHUT_RDWR) };
}
