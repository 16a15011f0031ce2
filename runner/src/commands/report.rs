//! `airlock report`.

use std::path::PathBuf;

use airlock::profile;
use airlock::report;
use airlock_attest::verify::VerifyOptions;
#[cfg(feature = "sandbox")]
use airlock_sandbox::Sandbox;

#[cfg(feature = "sandbox")]
use super::load_suite;
use super::output::{EXIT_UNVERIFIED, Failure, emit_rendered, json_safe_line};
use super::{SuiteArgs, load_trusted};

#[derive(clap::Args, Debug)]
pub(crate) struct ReportArgs {
    /// The bundle to report on; with a second bundle B, compare B against A
    /// (with --campaign: every shard bundle of the campaign).
    #[arg(required = true, num_args = 1.., value_name = "BUNDLE")]
    bundles: Vec<PathBuf>,
    /// Report the bundles as the shards of this signed campaign plan, as
    /// one run; --trust then names the coordinator keys.
    #[arg(long, value_name = "PLAN")]
    campaign: Option<PathBuf>,
    /// Trusted evaluator public key (SPKI PEM); may be given more than once.
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write the report to this file (atomically) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing file at --out.
    #[arg(long, requires = "out")]
    force: bool,
    /// Colour of the table on stdout.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Where task categories come from: the suite whose modules the run used.
    #[command(flatten)]
    source: SuiteArgs,
    /// A profile file to take budgets from when the run's profile is not
    /// embedded; used only if its digest equals the run's.
    #[arg(long)]
    profile: Option<PathBuf>,
}

/// Output format of `airlock report`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormat {
    /// A terminal table.
    Table,
    /// JSON (format airlock-report/1).
    Json,
    /// One self-contained HTML file with inline CSS and SVG charts.
    Html,
}

/// When to colour the table.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

pub(crate) fn execute(args: &ReportArgs) -> Result<(), Failure> {
    let trusted = load_trusted(&args.trust)?;
    let given_profile = args
        .profile
        .as_deref()
        .map(profile::load_file)
        .transpose()
        .map_err(Failure::from)?;
    let categories = report_categories(&args.source, given_profile.as_ref())?;
    let mut reports = Vec::new();
    if let Some(plan) = &args.campaign {
        let verdict = airlock_attest::campaign::verify_campaign(
            plan,
            &trusted,
            &args.bundles,
            VerifyOptions::default().collect_records(true),
        )
        .map_err(Failure::from)?;
        reports.push(report::model::RunReport::build(
            format!(
                "campaign {} ({} shard bundles)",
                plan.display(),
                args.bundles.len()
            ),
            verdict.verdict,
            &categories,
            given_profile.as_ref(),
        ));
    } else if args.bundles.len() > 2 {
        return Err(Failure::input(
            "report takes one bundle, or two to compare (or a campaign's shards with --campaign)",
        ));
    }
    for bundle in args.bundles.iter().filter(|_| args.campaign.is_none()) {
        let verdict = airlock_attest::verify_bundle_file(
            bundle,
            &trusted,
            VerifyOptions::default().collect_records(true),
        )
        .map_err(Failure::from)?;
        reports.push(report::model::RunReport::build(
            bundle.display().to_string(),
            verdict,
            &categories,
            given_profile.as_ref(),
        ));
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            use std::io::IsTerminal as _;
            args.out.is_none()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    let style = report::text::Style { color };
    let (rendered, verified, reasons) = match (reports.pop(), reports.pop()) {
        (Some(b), Some(a)) => {
            let cmp = report::compare::Comparison::new(a, b);
            let rendered = match args.format {
                ReportFormat::Table => report::compare::render_text(&cmp, style),
                ReportFormat::Json => json_safe_line(report::compare::render_json(&cmp)),
                ReportFormat::Html => report::html::render_comparison(&cmp),
            };
            (rendered, cmp.verified(), cmp.unverified_reasons())
        }
        (Some(one), None) => {
            let rendered = match args.format {
                ReportFormat::Table => report::text::render(&one, style),
                ReportFormat::Json => json_safe_line(report::json::render(&one)),
                ReportFormat::Html => report::html::render(&one),
            };
            let reasons = one
                .unverified_reason()
                .map(|why| format!("{}: {why}", one.source))
                .into_iter()
                .collect();
            (rendered, one.verified(), reasons)
        }
        _ => return Err(Failure::input("no bundle to report on")),
    };
    match &args.out {
        Some(path) => {
            report::output::write_atomically(path, rendered.as_bytes(), args.force)
                .map_err(Failure::from)?;
            eprintln!(
                "wrote {} ({})",
                path.display(),
                if verified {
                    "verified"
                } else {
                    "marked UNVERIFIED"
                }
            );
        }
        None => emit_rendered(&rendered),
    }
    if verified {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: format!(
                "UNVERIFIED: {}; the report is marked as unverified",
                report::text::clean(&reasons.join("; "))
            ),
        })
    }
}

/// Where a report's task categories come from, read from the suite's modules.
fn report_categories(
    source: &SuiteArgs,
    profile: Option<&profile::LoadedProfile>,
) -> Result<report::model::Categories, Failure> {
    if source.suite == airlock_default_suite::SUITE_NAME {
        return Ok(report::model::Categories::embedded());
    }
    suite_dir_categories(source, profile)
}

/// The categories of a suite directory's modules, read from the modules
/// themselves.
#[cfg(feature = "sandbox")]
fn suite_dir_categories(
    source: &SuiteArgs,
    profile: Option<&profile::LoadedProfile>,
) -> Result<report::model::Categories, Failure> {
    let limits = match profile {
        Some(loaded) => loaded.profile.sandbox_limits(),
        None => {
            let loaded = profile::load("default").map_err(Failure::from)?;
            loaded.profile.sandbox_limits()
        }
    };
    let sandbox = Sandbox::new(limits).map_err(Failure::from)?;
    let suite = load_suite(&sandbox, source)?;
    let from = format!(
        "suite directory {} ({})",
        source.suite,
        report::text::trust_text(&suite.trust)
    );
    Ok(report::model::Categories::from_suite(&suite, from))
}

/// A suite directory's categories are read from its compiled modules, which
/// the verifier's build cannot compile.
#[cfg(not(feature = "sandbox"))]
fn suite_dir_categories(
    source: &SuiteArgs,
    _profile: Option<&profile::LoadedProfile>,
) -> Result<report::model::Categories, Failure> {
    Err(Failure::input(format!(
        "{}: task categories of a suite directory are read from its compiled modules; \
         this is the verifier's build of airlock, without the sandbox (use the embedded \
         suite's categories, or the full build)",
        source.suite
    )))
}
