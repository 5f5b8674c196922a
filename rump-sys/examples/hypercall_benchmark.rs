//! Measures a rump kernel on this build's hypercalls: null system call (`rump_sys_getpid`)
//! latency and tmpfs write/read throughput. With `--baseline PROGRAM` it also runs PROGRAM
//! (this example built with the `c-rumpuser` feature, i.e. on upstream's C hypercalls from
//! the same rump build) and prints the ratios Rust/C (above 1.0 means Rust is faster).
//!
//! Needs `RUMPKERNEL_DIR` and the `tmpfs` feature; otherwise it says so and exits.

#[cfg(rump_linked)]
fn measure() -> [f64; 3] {
    use rump_sys::kernel::fs::{self, File, OpenMode};
    use rump_sys::kernel::{RumpKernel, SignalModel};
    use std::time::Instant;

    let kernel = RumpKernel::boot(SignalModel::Ignore).expect("rump_init");
    let calls = 2_000_000u32;
    let start = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(kernel.process_id());
    }
    let null_call_ns = start.elapsed().as_nanos() as f64 / f64::from(calls);

    fs::make_directory("/bench", 0o777).expect("mkdir");
    fs::mount_tmpfs("/bench").expect("mount tmpfs");
    let block = vec![0x5au8; 64 * 1024];
    let total_bytes = 512usize * 1024 * 1024;
    let file = File::open(
        "/bench/file",
        OpenMode {
            write: true,
            create: true,
            ..OpenMode::default()
        },
    )
    .expect("create");
    let start = Instant::now();
    for _ in 0..total_bytes / block.len() {
        assert_eq!(file.write(&block).expect("write"), block.len());
    }
    let write_mib_s = (total_bytes as f64 / 1048576.0) / start.elapsed().as_secs_f64();
    file.seek_to(0).expect("seek");
    let mut back = vec![0u8; block.len()];
    let start = Instant::now();
    let mut read = 0usize;
    while read < total_bytes {
        let count = file.read(&mut back).expect("read");
        assert!(count > 0);
        read += count;
    }
    let read_mib_s = (total_bytes as f64 / 1048576.0) / start.elapsed().as_secs_f64();
    [null_call_ns, write_mib_s, read_mib_s]
}

#[cfg(rump_linked)]
fn parse(line: &str) -> Option<[f64; 3]> {
    let mut values = line
        .strip_prefix("figures ")?
        .split(' ')
        .map(|value| value.parse().ok());
    Some([values.next()??, values.next()??, values.next()??])
}

#[cfg(rump_linked)]
fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.len() == 3 && arguments[1] == "--baseline" {
        let own = std::process::Command::new(&arguments[0])
            .output()
            .expect("run self");
        let baseline = std::process::Command::new(&arguments[2])
            .output()
            .expect("run baseline");
        let own_text = String::from_utf8_lossy(&own.stdout);
        let baseline_text = String::from_utf8_lossy(&baseline.stdout);
        let own = own_text
            .lines()
            .find_map(parse)
            .expect("figures from this build");
        let baseline = baseline_text
            .lines()
            .find_map(parse)
            .expect("figures from the baseline");
        println!(
            "null syscall (rump_sys_getpid): Rust {:.1} ns, C {:.1} ns, ratio {:.2}x",
            own[0],
            baseline[0],
            baseline[0] / own[0]
        );
        println!(
            "tmpfs write: Rust {:.0} MiB/s, C {:.0} MiB/s, ratio {:.2}x",
            own[1],
            baseline[1],
            own[1] / baseline[1]
        );
        println!(
            "tmpfs read: Rust {:.0} MiB/s, C {:.0} MiB/s, ratio {:.2}x",
            own[2],
            baseline[2],
            own[2] / baseline[2]
        );
        return;
    }
    let [null_call_ns, write_mib_s, read_mib_s] = measure();
    println!("figures {null_call_ns} {write_mib_s} {read_mib_s}");
    // Exit without rebooting: the figures are printed, and reboot's disk sync is not measured.
    std::process::exit(0);
}

#[cfg(not(rump_linked))]
fn main() {
    eprintln!("no rump kernel linked: set RUMPKERNEL_DIR and enable the tmpfs feature");
    std::process::exit(2);
}
