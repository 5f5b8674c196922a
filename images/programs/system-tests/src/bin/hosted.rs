//! `ethos-hosted IMAGE init=SET`: runs the init set SET of the packed initial image
//! IMAGE on the hosted platform, each program a thread of this process, and prints
//! what the kernel's `init=SET` prints on QEMU. `cargo xtask run --platform hosted`
//! builds and runs it. Its exit status is 0 when the set ran to its end, 1 when it
//! could not (the `@ethos test-fail` report says why).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
ethos_compat::hosted::hosted_main!(system_test_programs::hosted::programs());

// Built for Ethos, the runner says it is a Linux program.
#[cfg(target_os = "none")]
ethos_compat::entry!(on_ethos);

#[cfg(target_os = "none")]
fn on_ethos() -> i32 {
    ethos_compat::println!("ethos-hosted runs Ethos programs on Linux; it is no Ethos program");
    2
}
