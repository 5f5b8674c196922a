//! `fs-bench`: see `system_test_programs::fs_bench`, which gives the line it prints,
//! its exit statuses and why it asks for a larger heap.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(
    system_test_programs::fs_bench::bench,
    heap = system_test_programs::fs_bench::HEAP_BYTES
);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fs-bench is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
