//! The log parser against small synthetic logs: translations, their runs, a run
//! taken back, a reused host pointer.

use super::*;

const CLIENT_BOUNCE: u64 = 0x4000_0000_1000;
const CLIENT_HELPER: u64 = 0x4000_0000_1010;
const SHARED: u64 = 0x4000_0000_2000;

fn functions(list: &[(u64, u64, &str)]) -> Vec<Function> {
    list.iter()
        .map(|&(address, size, name)| Function {
            address,
            size,
            name: name.into(),
        })
        .collect()
}

/// A kernel with two functions and two programs linked at the same base: the
/// same bytes at `SHARED`, different ones at `CLIENT_BOUNCE`.
fn executables() -> Executables {
    let user_text = 0x4000_0000_0000..0x4000_0000_3000;
    let mut client_bytes = vec![0x90; 0x3000];
    let mut server_bytes = vec![0x90; 0x3000];
    client_bytes[0x1000..0x1003].copy_from_slice(&[0x31, 0xc0, 0xc3]);
    server_bytes[0x1000..0x1003].copy_from_slice(&[0x0f, 0x0b, 0xc3]);
    client_bytes[0x2000..0x2002].copy_from_slice(&[0x0f, 0x05]);
    server_bytes[0x2000..0x2002].copy_from_slice(&[0x0f, 0x05]);
    // The long instruction of the helper: ten bytes, printed over two lines.
    let long = [0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8];
    client_bytes[0x1010..0x101a].copy_from_slice(&long);
    Executables {
        kernel: SymbolTable::new(
            functions(&[
                (0x10_0000, 0x40, "_ZN6kernel5entry17h0123456789abcdefE"),
                (0x10_0100, 0, "kernel_switch"),
            ]),
            0x10_0000..0x10_1000,
        ),
        client: Program::new(
            SymbolTable::new(
                functions(&[
                    (CLIENT_BOUNCE, 0x10, "bounce"),
                    (CLIENT_HELPER, 0x10, "helper"),
                    (SHARED, 0x10, "syscall"),
                ]),
                user_text.clone(),
            ),
            vec![(0x4000_0000_0000, client_bytes)],
        ),
        server: Program::new(
            SymbolTable::new(
                functions(&[(CLIENT_BOUNCE, 0x10, "serve"), (SHARED, 0x10, "syscall")]),
                user_text,
            ),
            vec![(0x4000_0000_0000, server_bytes)],
        ),
    }
}

const TRANSLATIONS: &str = "\
----------------
IN: 
0x0000400000001000:  31 c0                    xorl     %eax, %eax
0x0000400000001002:  c3                       retq     

Trace 0: 0x7f0000000100 [0000000000000000/0000400000001000/00c000b3/00000000] 
----------------
IN: 
0x0000400000001010:  48 b8 01 02 03 04 05 06  movabsq  $0x807060504030201, %rax
0x0000400000001018:  07 08
0x000040000000101a:  90                       nop      

Trace 0: 0x7f0000000200 [0000000000000000/0000400000001010/00c000b3/00000000] 
----------------
IN: 
0x0000400000002000:  0f 05                    syscall  

Trace 0: 0x7f0000000300 [0000000000000000/0000400000002000/00c000b3/00000000] 
----------------
IN: entry
0x0000000000100010:  31 c0                    xorl     %eax, %eax
0x0000000000100012:  31 c0                    xorl     %eax, %eax
0x0000000000100014:  31 c0                    xorl     %eax, %eax

Trace 0: 0x7f0000000400 [0000000000000000/0000000000100010/00000040/00000000] entry
----------------
IN: 
0x0000400000001000:  0f 0b                    ud2      

Trace 0: 0x7f0000000500 [0000000000000000/0000400000001000/00c000b3/00000000] 
";

/// One round trip after the translations: the client enters `bounce`, calls
/// the helper and the system call, and the kernel runs.
const ROUND_TRIP: &str = "\
Trace 0: 0x7f0000000100 [0000000000000000/0000400000001000/00c000b3/00000000] 
Trace 0: 0x7f0000000200 [0000000000000000/0000400000001010/00c000b3/00000000] 
Trace 0: 0x7f0000000300 [0000000000000000/0000400000002000/00c000b3/00000000] 
Trace 0: 0x7f0000000400 [0000000000000000/0000000000100010/00000040/00000000] entry
Trace 0: 0x7f0000000500 [0000000000000000/0000400000001000/00c000b3/00000000] 
";

fn run(log: &str, windows: Vec<Window>) -> Profile {
    let executables = executables();
    let mut profiler = Profiler::new(
        &executables,
        Entry {
            owner: Owner::Client,
            address: CLIENT_BOUNCE,
        },
        windows,
    );
    for line in log.lines() {
        profiler.line(line.as_bytes());
    }
    profiler.finish()
}

fn counts(window: &WindowProfile) -> Vec<(Owner, &str, u64)> {
    window
        .functions
        .iter()
        .map(|count| (count.owner, count.function.as_str(), count.instructions))
        .collect()
}

#[test]
fn blocks_are_credited_to_their_functions_and_owners() {
    let log = format!("{TRANSLATIONS}{}", ROUND_TRIP.repeat(4));
    // The translations' own traces are entry 1; the round trips 2 to 5.
    let profile = run(&log, vec![Window { first: 2, end: 4 }]);
    assert_eq!(profile.entries, 5);
    assert_eq!(profile.untranslated, 0);
    let window = &profile.windows[0];
    assert_eq!(window.round_trips, 2);
    assert_eq!(
        counts(window),
        vec![
            (Owner::Kernel, "kernel::entry", 6),
            (Owner::Client, "bounce", 4),
            (Owner::Client, "helper", 4),
            (Owner::Server, "serve", 2),
            (Owner::Both, "syscall", 2),
        ]
    );
    assert_eq!(window.instructions, 18);
    assert_eq!(window.per_round_trip(window.instructions), 9.0);
    // Each block ran once per round trip; the most instructions first, then by
    // address.
    let blocks: Vec<(u64, &str, u64, u64)> = window
        .blocks
        .iter()
        .map(|block| {
            (
                block.address,
                block.function.as_str(),
                block.length,
                block.runs,
            )
        })
        .collect();
    assert_eq!(
        blocks,
        vec![
            (0x10_0010, "kernel::entry", 3, 2),
            (CLIENT_BOUNCE, "bounce", 2, 2),
            (CLIENT_HELPER, "helper", 2, 2),
            (CLIENT_BOUNCE, "serve", 1, 2),
            (SHARED, "syscall", 1, 2),
        ]
    );
    assert_eq!(
        window.owners(),
        vec![
            (Owner::Kernel, 6),
            (Owner::Client, 8),
            (Owner::Server, 2),
            (Owner::Both, 2)
        ]
    );
}

#[test]
fn a_block_that_did_not_run_is_taken_back() {
    let stopped = "Stopped execution of TB chain before 0x7f0000000100 \
                   [0000400000001000] \n";
    let log = format!(
        "{TRANSLATIONS}{}\n{stopped}{}",
        ROUND_TRIP.lines().next().unwrap(),
        ROUND_TRIP.repeat(2)
    );
    let profile = run(&log, vec![Window { first: 2, end: 3 }]);
    assert_eq!(profile.entries, 3);
    assert_eq!(profile.windows[0].instructions, 9);
    // The block taken back is not counted as run either.
    let bounce = profile.windows[0]
        .blocks
        .iter()
        .find(|block| block.address == CLIENT_BOUNCE && block.owner == Owner::Client)
        .map(|block| block.runs);
    assert_eq!(bounce, Some(1));
}

#[test]
fn a_reused_host_pointer_names_its_new_block() {
    let retranslated = "\
IN: 
0x0000000000100100:  c3                       retq     

Trace 0: 0x7f0000000400 [0000000000000000/0000000000100100/00000040/00000000] 
";
    let log = format!(
        "{TRANSLATIONS}{retranslated}{}Trace 0: 0x7f0000000999 [0/0000000000100100/0/0]\n",
        ROUND_TRIP.repeat(2)
    );
    let profile = run(&log, vec![Window { first: 2, end: 10 }]);
    let window = &profile.windows[0];
    assert!(counts(window).contains(&(Owner::Kernel, "kernel_switch", 2)));
    assert!(
        !counts(window)
            .iter()
            .any(|(_, name, _)| *name == "kernel::entry")
    );
    assert_eq!(profile.untranslated, 1);
}

#[test]
fn addresses_are_named_by_the_symbol_that_covers_them() {
    let kernel = executables().kernel;
    assert_eq!(
        kernel.function_at(0x10_003f).as_deref(),
        Some("kernel::entry")
    );
    assert_eq!(
        kernel.function_at(0x10_0040).as_deref(),
        Some("(no symbol, after kernel::entry)")
    );
    // A symbol without a size, as assembly defines them, reaches the next one.
    assert_eq!(
        kernel.function_at(0x10_0f00).as_deref(),
        Some("kernel_switch")
    );
    assert_eq!(kernel.function_at(0x10_1000), None);
    assert_eq!(kernel.function_at(0xf_ffff), None);
}

#[test]
fn instruction_lines_are_read_with_their_continuations() {
    assert_eq!(
        instruction_line(b"0x0000000000166200:  31 c0                    xorl     %eax, %eax"),
        Some((0x16_6200, vec![0x31, 0xc0], true))
    );
    assert_eq!(
        instruction_line(b"0x0000000000166208:  07 08"),
        Some((0x16_6208, vec![7, 8], false))
    );
    assert_eq!(instruction_line(b"OBJD-T: 31c0"), None);
    assert_eq!(
        trace_line(
            b"Trace 0: 0x7fe060000100 [00000000ffff0000/00000000fffffff0/00000040/ff020200] "
        ),
        Some((0x7fe0_6000_0100, 0xffff_fff0))
    );
}
