//! `cargo xtask bench report`: runs the benches that set Ethos beside the Linux
//! guest (`bench ipc`, `bench boot`, `bench fs`), or with `--saved` reads what they
//! last saved, and writes `target/bench/report.md`, `target/bench/report.json`
//! (every figure, the commit, the dates) and a plot per figure (SVG and PNG): Ethos
//! beside the Linux guest beside the goal, in instructions and in TCG wall time.
//!
//! The plots' text is laid out with the DejaVu Sans font of Debian's
//! `fonts-dejavu-core` (plotters' `ab_glyph` feature), which needs no font service.

use std::process::ExitCode;

use ethos_images::error::FileContext;
use ethos_images::{XtaskError, prerequisites};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::bench::{self, BootArguments};
use crate::bench_fs::{self, FsArguments};
use crate::bench_ipc::{self, IpcArguments};
use crate::bench_results::{self, BenchResults, Goal, Measures, Metric, Spread, bench_directory};

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArguments {
    /// Read the figures each bench last saved (target/bench/ipc.json, boot.json,
    /// fs.json) instead of measuring.
    #[arg(long)]
    saved: bool,
    /// TCG runs per system for the IPC and file system figures.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// TCG boots per machine for the boot figures.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    boots: u32,
}

const FONT: prerequisites::Tool = prerequisites::Tool {
    program: "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    package: "fonts-dejavu-core",
};

/// The benches the report is made of.
const BENCHES: [&str; 3] = ["ipc", "boot", "fs"];

/// Makes the DejaVu font plotters' "sans-serif", installing it where possible.
fn register_font() -> Result<(), XtaskError> {
    prerequisites::ensure(&[FONT])?;
    let font = std::fs::read(FONT.program).at(FONT.program)?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| {
        XtaskError::Prerequisite(format!("{} is not a font plotters can read", FONT.program))
    })
}

/// One bar of a panel: its value (median, low, high), or why there is none.
struct Bar<'a> {
    name: &'a str,
    value: Option<(f64, f64, f64)>,
    missing: &'a str,
    color: RGBColor,
}

/// Why a system has no instruction count to plot.
fn no_count(measures: &Measures) -> &'static str {
    if measures.instructions.is_empty() {
        "not measured"
    } else {
        "runs differ"
    }
}

#[derive(Serialize)]
struct Report<'a> {
    commit: String,
    generated: String,
    benches: &'a [BenchResults],
}

pub(crate) fn report(arguments: &ReportArguments) -> Result<ExitCode, XtaskError> {
    register_font()?;
    let mut failed = false;
    let mut benches = Vec::new();
    for name in BENCHES {
        let results = if arguments.saved {
            BenchResults::load(name)?
        } else {
            let (results, any_failed) = match name {
                "ipc" => bench_ipc::measure(&IpcArguments {
                    runs: arguments.runs,
                    ..IpcArguments::default()
                })?,
                "fs" => bench_fs::measure(&FsArguments {
                    runs: arguments.runs,
                    ..FsArguments::default()
                })?,
                _ => bench::measure(&BootArguments {
                    boots: arguments.boots,
                    ..BootArguments::default()
                })?,
            };
            failed |= any_failed;
            results.save()?;
            results
        };
        bench_results::print(&results);
        benches.push(results);
    }
    let directory = bench_directory();
    let plots = directory.join("plots");
    std::fs::create_dir_all(&plots).at(&plots)?;
    let mut plotted = Vec::new();
    for results in &benches {
        for metric in &results.metrics {
            let stem = format!("{}-{}", results.bench, metric.key);
            for extension in ["svg", "png"] {
                let path = plots.join(format!("{stem}.{extension}"));
                let drawn = if extension == "svg" {
                    plot(SVGBackend::new(&path, SIZE).into_drawing_area(), metric)
                } else {
                    plot(BitMapBackend::new(&path, SIZE).into_drawing_area(), metric)
                };
                drawn.map_err(|problem| XtaskError::File {
                    path: path.clone(),
                    error: std::io::Error::other(problem),
                })?;
            }
            plotted.push((results.bench.clone(), metric.key.clone(), stem));
        }
    }
    let report = Report {
        commit: bench_results::commit(),
        generated: bench_results::now(),
        benches: &benches,
    };
    let json = directory.join("report.json");
    let text = serde_json::to_string_pretty(&report)
        .map_err(|error| XtaskError::Usage(format!("encoding {}: {error}", json.display())))?;
    std::fs::write(&json, text + "\n").at(&json)?;
    let markdown = directory.join("report.md");
    std::fs::write(&markdown, markdown_report(&report, &plotted)).at(&markdown)?;
    println!("wrote {}", markdown.display());
    println!("wrote {}", json.display());
    println!("wrote {} plots in {}", plotted.len() * 2, plots.display());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

const SIZE: (u32, u32) = (900, 360);

/// A figure's value for a plot, with the spread when there is one.
fn value_ns(spread: Option<Spread>) -> Option<(f64, f64, f64)> {
    spread.map(|spread| (spread.median, spread.min, spread.max))
}

/// Two panels: instructions (Ethos, Linux guest, goal) and TCG wall time (Ethos,
/// Linux guest, with their spread over runs).
fn plot<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, metric: &Metric) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|error| error.to_string())?;
    let root = root
        .titled(&metric.label, ("sans-serif", 20))
        .map_err(|error| error.to_string())?;
    let panels = root.split_evenly((1, 2));
    let goal = metric
        .goal
        .as_ref()
        .and_then(|goal| goal.instructions(metric.linux.agreed_instructions()));
    let exact = |count: Option<u64>| count.map(|count| (count as f64, count as f64, count as f64));
    let instructions = [
        Bar {
            name: "Ethos",
            value: exact(metric.ethos.agreed_instructions()),
            missing: no_count(&metric.ethos),
            color: BLUE,
        },
        Bar {
            name: "Linux guest",
            value: exact(metric.linux.agreed_instructions()),
            missing: no_count(&metric.linux),
            color: RED,
        },
        Bar {
            name: "goal",
            value: goal.map(|count| (count, count, count)),
            missing: match metric.goal {
                Some(Goal::WallRatioOfLinux(_)) => "a wall time goal",
                Some(_) => "needs the Linux count",
                None => "none set",
            },
            color: GREEN,
        },
    ];
    bars(&panels[0], "instructions (-icount)", &instructions)?;
    let wall = [
        Bar {
            name: "Ethos",
            value: value_ns(metric.ethos.tcg_ns),
            missing: "not measured",
            color: BLUE,
        },
        Bar {
            name: "Linux guest",
            value: value_ns(metric.linux.tcg_ns),
            missing: "not measured",
            color: RED,
        },
    ];
    bars(&panels[1], "TCG wall time, ns (median, min–max)", &wall)?;
    root.present().map_err(|error| error.to_string())
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    values: &[Bar],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let highest = values
        .iter()
        .filter_map(|bar| bar.value.map(|(_, _, max)| max))
        .fold(0.0, f64::max);
    let top = if highest > 0.0 { highest * 1.15 } else { 1.0 };
    let count = values.len() as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        // A segmented range holds its end too: one segment per bar.
        .build_cartesian_2d((0..count.saturating_sub(1)).into_segmented(), 0.0..top)
        .map_err(|error| error.to_string())?;
    let names: Vec<&str> = values.iter().map(|bar| bar.name).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => names
                .get(*index as usize)
                .map_or(String::new(), |name| name.to_string()),
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|value| format!("{value:.0}"))
        .draw()
        .map_err(|error| error.to_string())?;
    let label =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (index, bar) in values.iter().enumerate() {
        let index = index as u32;
        let Some((median, low, high)) = bar.value else {
            chart
                .draw_series(std::iter::once(Text::new(
                    bar.missing.to_string(),
                    (SegmentValue::CenterOf(index), top * 0.02),
                    label.clone(),
                )))
                .map_err(|error| error.to_string())?;
            continue;
        };
        let mut rectangle = Rectangle::new(
            [
                (SegmentValue::Exact(index), 0.0),
                (SegmentValue::Exact(index + 1), median),
            ],
            bar.color
                .mix(if bar.name == "goal" { 0.35 } else { 0.8 })
                .filled(),
        );
        rectangle.set_margin(0, 0, 20, 20);
        chart
            .draw_series(std::iter::once(rectangle))
            .map_err(|error| error.to_string())?;
        if high > low {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::CenterOf(index), low),
                        (SegmentValue::CenterOf(index), high),
                    ],
                    BLACK.stroke_width(2),
                )))
                .map_err(|error| error.to_string())?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{median:.0}"),
                (SegmentValue::CenterOf(index), median + top * 0.02),
                label.clone(),
            )))
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

fn cell_ns(spread: Option<Spread>) -> String {
    spread.map_or("–".into(), |spread| {
        format!(
            "{:.0} [{:.0}–{:.0}], {} runs",
            spread.median, spread.min, spread.max, spread.runs
        )
    })
}

fn cell_ratio(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |ratio| format!("{ratio:.3}×"))
}

fn markdown_report(report: &Report, plotted: &[(String, String, String)]) -> String {
    let mut text = String::from("# Ethos beside a Linux guest\n\n");
    text.push_str(&format!(
        "Commit `{}`, report written {}. Made by `cargo xtask bench report`.\n\n",
        report.commit, report.generated
    ));
    text.push_str(
        "Every figure has two measures: the wall time under TCG (the median of each run's \
         figure, with the lowest and highest over the runs) and the instructions under \
         `-icount shift=0,sleep=off`, where the guest's clock advances one nanosecond per \
         instruction (each such run is made twice; the counts must agree). Ratios are \
         Ethos / Linux guest.\n\n",
    );
    for results in report.benches {
        text.push_str(&format!("## bench {}\n\n", results.bench));
        text.push_str(&format!(
            "Measured {} – {} at commit `{}`; {}; machine {}; Linux guest `{}`; KVM: {}.\n\n",
            results.started,
            results.finished,
            results.commit,
            results.qemu,
            results.machine,
            results.linux_kernel,
            results.kvm
        ));
        text.push_str(
            "| figure | Ethos, instructions | Linux guest, instructions | Ethos / Linux (instr) | goal | met | Ethos, TCG ns | Linux guest, TCG ns | Ethos / Linux (TCG) | host processes, ns |\n",
        );
        text.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for metric in &results.metrics {
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                metric.label,
                metric.ethos.instructions_shown(),
                metric.linux.instructions_shown(),
                cell_ratio(metric.instruction_ratio()),
                metric
                    .goal
                    .as_ref()
                    .map_or("–".into(), |goal| goal.describe()),
                match metric.goal_met() {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "–",
                },
                cell_ns(metric.ethos.tcg_ns),
                cell_ns(metric.linux.tcg_ns),
                cell_ratio(metric.tcg_ratio()),
                metric.host_ns.map_or("–".into(), |ns| format!("{ns:.0}")),
            ));
        }
        text.push('\n');
        if results
            .metrics
            .iter()
            .any(|metric| metric.ethos.kvm_ns.is_some())
        {
            text.push_str("KVM, ns (median [min–max]):\n\n");
            for metric in &results.metrics {
                text.push_str(&format!(
                    "- {}: Ethos {}, Linux guest {}\n",
                    metric.label,
                    cell_ns(metric.ethos.kvm_ns),
                    cell_ns(metric.linux.kvm_ns)
                ));
            }
            text.push('\n');
        }
        for note in &results.notes {
            text.push_str(&format!("- {note}\n"));
        }
        text.push_str("\nCommands:\n\n```\n");
        for command in &results.commands {
            text.push_str(command);
            text.push('\n');
        }
        text.push_str("```\n\n");
        for (bench, key, stem) in plotted {
            if *bench == results.bench {
                text.push_str(&format!("![{key}](plots/{stem}.svg)\n"));
            }
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> BenchResults {
        BenchResults {
            bench: "ipc".into(),
            commit: "abc".into(),
            started: "2026-01-01T00:00:00Z".into(),
            finished: "2026-01-01T00:01:00Z".into(),
            qemu: "QEMU emulator version 7.2".into(),
            machine: "pc".into(),
            linux_kernel: "vmlinuz-6.1.0-57-amd64".into(),
            kvm: "not usable".into(),
            commands: vec!["qemu-system-x86_64 -M pc".into()],
            metrics: vec![Metric {
                key: "round_trip_64".into(),
                label: "64 B round trip".into(),
                ethos: Measures {
                    tcg_ns: Spread::of(&[70_000.0, 72_000.0, 75_000.0]),
                    kvm_ns: None,
                    instructions: vec![28_515, 28_515],
                },
                linux: Measures {
                    tcg_ns: Spread::of(&[71_000.0]),
                    kvm_ns: None,
                    instructions: vec![10_856, 10_857],
                },
                host_ns: Some(6169.0),
                goal: Some(Goal::RatioOfLinux(1.0 / 3.0)),
            }],
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn the_markdown_has_every_figure_and_says_when_counts_differ() {
        let benches = [results()];
        let report = Report {
            commit: "abc".into(),
            generated: "2026-01-01T00:02:00Z".into(),
            benches: &benches,
        };
        let plotted = [(
            "ipc".to_string(),
            "round_trip_64".to_string(),
            "ipc-round_trip_64".to_string(),
        )];
        let text = markdown_report(&report, &plotted);
        for needed in [
            "| 64 B round trip | 28515 (2 runs agree) | DIFFER: 10856 / 10857 | – |",
            "72000 [70000–75000], 3 runs",
            "| 6169 |",
            "- a note",
            "qemu-system-x86_64 -M pc",
            "![round_trip_64](plots/ipc-round_trip_64.svg)",
        ] {
            assert!(text.contains(needed), "missing `{needed}` in\n{text}");
        }
    }

    #[test]
    fn a_plot_is_drawn_with_the_debian_font() {
        register_font().unwrap();
        let mut svg = String::new();
        plot(
            SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(),
            &results().metrics[0],
        )
        .unwrap();
        assert!(svg.contains("64 B round trip"), "{svg}");
        assert!(svg.contains("Linux guest"));
        assert!(svg.contains("28515"));
        let mut pixels = vec![0; (SIZE.0 * SIZE.1 * 3) as usize];
        plot(
            BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area(),
            &results().metrics[0],
        )
        .unwrap();
        // Something besides the white background was drawn.
        assert!(pixels.iter().any(|byte| *byte != 255));
    }
}
