//! The work each child process does against its rump kernel; chosen by name.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rump_sys::kernel::fs::{self, File, OpenMode};
use rump_sys::kernel::net::{self, TcpSocket};
use rump_sys::kernel::{RumpKernel, SignalModel};

pub(crate) fn run(scenario: &str) {
    let model = if scenario == "closed_pipe" {
        SignalModel::Raise
    } else {
        SignalModel::Ignore
    };
    let kernel = RumpKernel::boot(model).expect("rump_init");
    println!("rump_init returned 0");
    match scenario {
        "boot" => println!("pid inside the rump kernel: {}", kernel.process_id()),
        "closed_pipe" => write_to_closed_pipe(),
        #[cfg(feature = "sysproxy")]
        "sysproxy_server" => serve_remote_client(),
        "tmpfs_kernfs" => tmpfs_and_kernfs(),
        "ext2" => ext2(),
        "tcp_server" => tcp_server(),
        "tcp_client" => tcp_client(),
        "stress" => stress(),
        other => panic!("unknown scenario {other}"),
    }
    let error = kernel.reboot();
    println!("REBOOT RETURNED: {error}");
    std::process::exit(3);
}

/// Writes to a rump pipe whose read end is closed, under the raise signal model: the rump
/// kernel's SIGPIPE must reach this process, which then dies of it.
fn write_to_closed_pipe() {
    use rump_sys::bindings;
    // The Rust runtime ignores SIGPIPE; the default action is what is checked.
    // SAFETY: restoring a default disposition has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut ends = [-1i32; 2];
    // SAFETY: `ends` has room for the two descriptors pipe writes.
    let made = unsafe { bindings::rump_sys_pipe(ends.as_mut_ptr()) };
    assert_eq!(made, 0, "pipe");
    // SAFETY: closing a descriptor number of the rump kernel.
    assert_eq!(unsafe { bindings::rump_sys_close(ends[0]) }, 0, "close");
    println!("writing to a pipe without a reader");
    let byte = [1u8];
    // SAFETY: `byte` is readable for its length.
    let written = unsafe { bindings::rump_sys_write(ends[1], byte.as_ptr().cast(), 1) };
    println!("write returned {written}: no SIGPIPE reached the host process");
}

/// Serves remote clients at `RUMP_SYS_SERVER_URL` until one has created `/remote/done`,
/// then prints what the client left in `/remote/file`, as this rump kernel sees it.
#[cfg(feature = "sysproxy")]
fn serve_remote_client() {
    unsafe extern "C" {
        fn rump_init_server(url: *const std::ffi::c_char) -> std::ffi::c_int;
    }
    let url = std::env::var("RUMP_SYS_SERVER_URL").expect("server URL");
    let url = std::ffi::CString::new(url).expect("URL without NUL");
    // SAFETY: `url` is NUL-terminated and the rump kernel is booted.
    let error = unsafe { rump_init_server(url.as_ptr()) };
    assert_eq!(error, 0, "rump_init_server");
    println!("serving at {}", url.to_string_lossy());
    let start = Instant::now();
    while fs::status("/remote/done").is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no client finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let file = File::open("/remote/file", OpenMode::default()).expect("open the client's file");
    let mut text = vec![0u8; 128];
    let count = file.read(&mut text).expect("read the client's file");
    println!("server reads: {}", String::from_utf8_lossy(&text[..count]));
}

const WRITE: OpenMode = OpenMode {
    write: true,
    create: true,
    exclusive: false,
    truncate: false,
};

fn tmpfs_and_kernfs() {
    fs::make_directory("/scratch", 0o777).expect("mkdir /tmp");
    fs::mount_tmpfs("/scratch").expect("mount tmpfs");
    let payload: Vec<u8> = (0..100_000u32).map(|index| (index % 251) as u8).collect();
    {
        let file = File::open("/scratch/data.bin", WRITE).expect("create");
        assert_eq!(file.write(&payload).expect("write"), payload.len());
    }
    let file = File::open("/scratch/data.bin", OpenMode::default()).expect("open");
    let mut back = vec![0u8; payload.len() + 10];
    let mut total = 0;
    loop {
        let count = file.read(&mut back[total..]).expect("read");
        if count == 0 {
            break;
        }
        total += count;
    }
    assert_eq!(&back[..total], &payload[..], "read back what was written");
    let status = fs::status("/scratch/data.bin").expect("stat");
    assert!(status.is_regular());
    assert_eq!(status.size, payload.len() as i64);
    assert!(fs::status("/scratch").expect("stat dir").is_directory());
    let names = fs::read_directory("/scratch").expect("readdir");
    assert!(names.iter().any(|name| name == "data.bin"), "{names:?}");
    drop(file);
    fs::unlink("/scratch/data.bin").expect("unlink");
    let names = fs::read_directory("/scratch").expect("readdir");
    assert!(!names.iter().any(|name| name == "data.bin"), "{names:?}");
    assert!(fs::status("/scratch/data.bin").is_err());

    fs::make_directory("/kern", 0o755).expect("mkdir /kern");
    fs::mount_kernfs("/kern").expect("mount kernfs");
    let names = fs::read_directory("/kern").expect("readdir kernfs");
    assert!(names.iter().any(|name| name == "version"), "{names:?}");
    let version = File::open("/kern/version", OpenMode::default()).expect("open version");
    let mut text = vec![0u8; 512];
    let count = version.read(&mut text).expect("read version");
    let text = String::from_utf8_lossy(&text[..count]);
    assert!(text.contains("NetBSD"), "{text}");
    println!("tmpfs and kernfs checks passed");
}

fn ext2() {
    let image = std::env::var("RUMP_SYS_EXT2_IMAGE").expect("image path");
    fs::register_host_block_device("/dev/disk0", &image).expect("etfs");
    fs::make_directory("/mnt", 0o755).expect("mkdir");
    fs::mount_ext2fs("/dev/disk0", "/mnt").expect("mount ext2fs");
    {
        let hello = File::open("/mnt/hello.txt", WRITE).expect("create hello");
        hello
            .write(b"written by a rump kernel on Rust hypercalls\n")
            .expect("write hello");
    }
    fs::make_directory("/mnt/data", 0o755).expect("mkdir data");
    for index in 0..4u8 {
        let file = File::open(&format!("/mnt/data/file{index}.bin"), WRITE).expect("create");
        let block = vec![index; 300_000];
        assert_eq!(file.write(&block).expect("write"), block.len());
        file.sync().expect("fsync");
    }
    fs::unmount("/mnt").expect("unmount");
    println!("ext2 files written");
}

fn family_addresses() -> (String, SocketAddr, SocketAddr) {
    let family = std::env::var("RUMP_SYS_FAMILY").expect("family");
    let (server, client): (SocketAddr, SocketAddr) = if family == "inet6" {
        (
            SocketAddr::from((Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 1), 7000)),
            SocketAddr::from((Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 2), 0)),
        )
    } else {
        (
            SocketAddr::from((Ipv4Addr::new(10, 93, 0, 1), 7000)),
            SocketAddr::from((Ipv4Addr::new(10, 93, 0, 2), 0)),
        )
    };
    (family, server, client)
}

fn configure_interface(own: SocketAddr) {
    let bus = std::env::var("RUMP_SYS_BUS").expect("bus path");
    let interface = net::create_shared_memory_interface(&bus).expect("shmif");
    match own {
        SocketAddr::V4(address) => {
            net::add_ipv4_address(&interface, *address.ip(), Ipv4Addr::new(255, 255, 255, 0))
                .expect("ipv4 address")
        }
        SocketAddr::V6(address) => {
            net::add_ipv6_address(&interface, *address.ip(), 64).expect("ipv6 address")
        }
    }
    net::interface_up(&interface).expect("ifup");
}

const PAYLOAD_LENGTH: usize = 1 << 20;

fn payload_byte(index: usize) -> u8 {
    (index.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn tcp_server() {
    let (_, server, _) = family_addresses();
    configure_interface(server);
    let listener = retry(|| TcpSocket::listen(server));
    let connection = listener.accept().expect("accept");
    let mut received = 0usize;
    let mut buffer = vec![0u8; 65536];
    while received < PAYLOAD_LENGTH {
        let count = connection.receive(&mut buffer).expect("receive");
        assert!(count > 0, "peer closed after {received} bytes");
        for (offset, byte) in buffer[..count].iter().enumerate() {
            assert_eq!(
                *byte,
                payload_byte(received + offset),
                "byte {}",
                received + offset
            );
        }
        received += count;
    }
    connection.send_all(b"ok").expect("acknowledge");
    println!("payload verified: {received} bytes");
    // Let the acknowledgement leave before the kernel halts.
    let mut rest = [0u8; 16];
    let _ = connection.receive(&mut rest);
}

fn tcp_client() {
    let (_, server, client) = family_addresses();
    configure_interface(client);
    let connection = retry(|| TcpSocket::connect(server));
    let payload: Vec<u8> = (0..PAYLOAD_LENGTH).map(payload_byte).collect();
    connection.send_all(&payload).expect("send");
    let mut answer = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let count = connection.receive(&mut answer[got..]).expect("receive ack");
        assert!(count > 0, "server closed early");
        got += count;
    }
    assert_eq!(&answer, b"ok");
    println!("acknowledged");
}

/// Retries while the peer or duplicate address detection is not ready yet.
fn retry<T>(mut attempt: impl FnMut() -> Result<T, rump_sys::kernel::RumpError>) -> T {
    let start = Instant::now();
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(error) if start.elapsed() < Duration::from_secs(30) => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => panic!("gave up: {error}"),
        }
    }
}

fn stress() {
    fs::make_directory("/scratch", 0o777).expect("mkdir /tmp");
    fs::mount_tmpfs("/scratch").expect("mount tmpfs");
    let errors = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let (errors, calls) = (Arc::clone(&errors), Arc::clone(&calls));
            std::thread::spawn(move || {
                let path = format!("/scratch/stress{thread}");
                let mut buffer = [0u8; 512];
                let file = File::open(&path, WRITE).expect("create");
                for round in 0..10_000u32 {
                    let ok = match round % 5 {
                        0 => rump_sys::kernel::fs::status(&path).is_ok(),
                        1 => file.write(&buffer).is_ok(),
                        2 => file.seek_to(0).is_ok(),
                        3 => file.read(&mut buffer).is_ok(),
                        _ => fs::read_directory("/scratch").is_ok(),
                    };
                    buffer[0] = buffer[0].wrapping_add(1);
                    calls.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("stress thread");
    }
    println!(
        "stress: {} calls, {} errors",
        calls.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
}
