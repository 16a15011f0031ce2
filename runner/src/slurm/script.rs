//! The two batch scripts of a campaign: the shard array, whose every task
//! `exec`s `airlock campaign run` for its shard, and the finish job, which
//! verifies and reports the whole campaign once the array has ended.
//!
//! Both work with plain `sbatch` too: every option is an `#SBATCH` line,
//! every path is absolute, and the command line only narrows the array
//! (`--array=...` on a resubmission) or adds the dependency.

use core::fmt::Write as _;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::SlurmError;

/// File name of the shard array script in the campaign directory.
pub const SHARD_SCRIPT: &str = "airlock-shards.sbatch";

/// File name of the finish script in the campaign directory.
pub const FINISH_SCRIPT: &str = "airlock-finish.sbatch";

/// Quotes `arg` for a POSIX shell: the shell reads back exactly `arg`.
///
/// Arguments that are not UTF-8 are refused, since the script is text.
pub fn shell_quote(what: &str, arg: &OsStr) -> Result<String, SlurmError> {
    let Some(text) = arg.to_str() else {
        return Err(SlurmError::Argument {
            what: what.to_owned(),
            reason: format!("{} is not UTF-8", arg.to_string_lossy()),
        });
    };
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        return Ok(text.to_owned());
    }
    // Inside single quotes nothing is special but the quote itself, which
    // is closed, escaped and reopened.
    Ok(format!("'{}'", text.replace('\'', r"'\''")))
}

/// Refuses a path that an `#SBATCH` line cannot carry: sbatch splits those
/// lines at white space, and expands `%` and `\` in file name patterns.
pub fn check_directive_path(what: &str, path: &Path) -> Result<(), SlurmError> {
    let Some(text) = path.to_str() else {
        return Err(SlurmError::Argument {
            what: what.to_owned(),
            reason: format!("{} is not UTF-8", path.display()),
        });
    };
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "%\\\"'#".contains(*c))
    {
        return Err(SlurmError::Argument {
            what: what.to_owned(),
            reason: format!(
                "{text} holds {bad:?}, which an #SBATCH line cannot carry; use a directory whose \
                 path has no white space, quotes, %, \\ or #"
            ),
        });
    }
    Ok(())
}

/// The shard array script.
#[derive(Debug, Clone)]
pub struct ShardScript {
    /// The Slurm job name.
    pub job_name: String,
    /// Number of shards (array tasks 0..shards).
    pub shards: u32,
    /// Shards run at once at most (`%K`); `None` for no limit.
    pub concurrent: Option<u32>,
    /// Partition, when not the cluster's default.
    pub partition: Option<String>,
    /// Time limit in sbatch's syntax, when given.
    pub time_limit: Option<String>,
    /// CPUs per shard: the hardware profile's cores.
    pub cpus: u32,
    /// Memory per shard in MiB: the profile's total memory.
    pub memory_mib: u32,
    /// The airlock executable, absolute.
    pub airlock: PathBuf,
    /// The campaign plan, absolute.
    pub plan: PathBuf,
    /// The node key that signs the shards, absolute.
    pub key: PathBuf,
    /// The campaign directory, absolute.
    pub dir: PathBuf,
    /// Further arguments of `airlock campaign run`.
    pub run_args: Vec<std::ffi::OsString>,
}

impl ShardScript {
    /// The script's text.
    pub fn render(&self) -> Result<String, SlurmError> {
        check_directive_path("the campaign directory", &self.dir)?;
        check_job_name(&self.job_name)?;
        let mut text = String::new();
        let _ = writeln!(text, "#!/bin/bash");
        let _ = writeln!(text, "#SBATCH --job-name={}", self.job_name);
        let last = self.shards.saturating_sub(1);
        let limit = self.concurrent.map(|k| format!("%{k}")).unwrap_or_default();
        let _ = writeln!(text, "#SBATCH --array=0-{last}{limit}");
        // A preempted or requeued shard starts again and resumes from its
        // journal; appending keeps the logs of every attempt.
        let _ = writeln!(text, "#SBATCH --requeue");
        let _ = writeln!(text, "#SBATCH --open-mode=append");
        let _ = writeln!(
            text,
            "#SBATCH --output={}",
            self.dir.join("logs").join("shard-%a.out").display()
        );
        let _ = writeln!(text, "#SBATCH --chdir={}", self.dir.display());
        let _ = writeln!(text, "#SBATCH --nodes=1");
        let _ = writeln!(text, "#SBATCH --ntasks=1");
        let _ = writeln!(text, "#SBATCH --cpus-per-task={}", self.cpus);
        let _ = writeln!(text, "#SBATCH --mem={}M", self.memory_mib);
        write_optional(
            &mut text,
            self.partition.as_deref(),
            self.time_limit.as_deref(),
        )?;
        let _ = writeln!(
            text,
            "# Written by airlock slurm submit. Submit it by hand with:\n\
             #   sbatch --parsable {}",
            self.dir.join(SHARD_SCRIPT).display()
        );
        // exec: airlock becomes the job's process, so the SIGTERM of scancel
        // or preemption reaches it and it stops resumably.
        let mut line = String::from("exec");
        for (what, arg) in [
            ("the airlock executable", self.airlock.as_os_str()),
            ("campaign", OsStr::new("campaign")),
            ("run", OsStr::new("run")),
            ("--plan", OsStr::new("--plan")),
            ("the plan", self.plan.as_os_str()),
        ] {
            line.push(' ');
            line.push_str(&shell_quote(what, arg)?);
        }
        line.push_str(" --shard \"$SLURM_ARRAY_TASK_ID\" --key ");
        line.push_str(&shell_quote("the key", self.key.as_os_str())?);
        line.push_str(" --dir ");
        line.push_str(&shell_quote(
            "the campaign directory",
            self.dir.as_os_str(),
        )?);
        for arg in &self.run_args {
            line.push(' ');
            line.push_str(&shell_quote("a run argument", arg)?);
        }
        let _ = writeln!(text, "{line}");
        Ok(text)
    }
}

/// The finish script: verify and report once every shard has ended.
#[derive(Debug, Clone)]
pub struct FinishScript {
    /// The Slurm job name.
    pub job_name: String,
    /// Partition, when not the cluster's default.
    pub partition: Option<String>,
    /// The airlock executable, absolute.
    pub airlock: PathBuf,
    /// The campaign plan, absolute.
    pub plan: PathBuf,
    /// The coordinator's public key, absolute.
    pub trust: PathBuf,
    /// The campaign directory, absolute.
    pub dir: PathBuf,
}

impl FinishScript {
    /// The script's text.
    pub fn render(&self) -> Result<String, SlurmError> {
        check_directive_path("the campaign directory", &self.dir)?;
        check_job_name(&self.job_name)?;
        let q = |what: &str, path: &Path| shell_quote(what, path.as_os_str());
        let airlock = q("the airlock executable", &self.airlock)?;
        let plan = q("the plan", &self.plan)?;
        let trust = q("the trusted key", &self.trust)?;
        let dir = q("the campaign directory", &self.dir)?;
        let mut text = String::new();
        let _ = writeln!(text, "#!/bin/bash");
        let _ = writeln!(text, "#SBATCH --job-name={}", self.job_name);
        let _ = writeln!(text, "#SBATCH --open-mode=append");
        let _ = writeln!(
            text,
            "#SBATCH --output={}",
            self.dir.join("logs").join("finish-%j.out").display()
        );
        let _ = writeln!(text, "#SBATCH --chdir={}", self.dir.display());
        let _ = writeln!(text, "#SBATCH --nodes=1");
        let _ = writeln!(text, "#SBATCH --ntasks=1");
        let _ = writeln!(text, "#SBATCH --cpus-per-task=1");
        let _ = writeln!(text, "#SBATCH --mem=512M");
        write_optional(&mut text, self.partition.as_deref(), None)?;
        let _ = write!(
            text,
            "# Written by airlock slurm submit. Submit it by hand after the shard array\n\
             # (JOBID is what sbatch printed for it):\n\
             #   sbatch --parsable --dependency=afterany:JOBID {script}\n\
             # The job's exit status is verify's: 0 when the campaign is complete and valid.\n\
             shopt -s nullglob\n\
             bundles=({dir}/shard-*.bundle)\n\
             # Written beside and renamed, so that a verdict file is never half a verdict.\n\
             {airlock} verify --campaign {plan} --trust {trust} --json \"${{bundles[@]}}\" \
             > {dir}/campaign.verdict.json.tmp\n\
             status=$?\n\
             mv -f {dir}/campaign.verdict.json.tmp {dir}/campaign.verdict.json\n\
             {airlock} report --campaign {plan} --trust {trust} --format json \"${{bundles[@]}}\" \
             > {dir}/campaign.report.json.tmp\n\
             mv -f {dir}/campaign.report.json.tmp {dir}/campaign.report.json\n\
             exit $status\n",
            script = self.dir.join(FINISH_SCRIPT).display(),
        );
        Ok(text)
    }
}

fn check_job_name(name: &str) -> Result<(), SlurmError> {
    let good = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if good {
        Ok(())
    } else {
        Err(SlurmError::Argument {
            what: "the job name".to_owned(),
            reason: format!("{name:?} is not made of letters, digits, '-', '_' and '.'"),
        })
    }
}

fn write_optional(
    text: &mut String,
    partition: Option<&str>,
    time_limit: Option<&str>,
) -> Result<(), SlurmError> {
    for (what, value, option) in [
        ("--partition", partition, "partition"),
        ("--time-limit", time_limit, "time"),
    ] {
        let Some(value) = value else { continue };
        let good = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:,".contains(c));
        if !good {
            return Err(SlurmError::Argument {
                what: what.to_owned(),
                reason: format!(
                    "{value:?} is not a Slurm {option} (letters, digits, '-', '_', '.', ':', ',')"
                ),
            });
        }
        let _ = writeln!(text, "#SBATCH --{option}={value}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        let q = |s: &str| shell_quote("x", OsStr::new(s)).unwrap();
        assert_eq!(q("--epochs"), "--epochs");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("it's"), r"'it'\''s'");
        assert_eq!(q("$HOME"), "'$HOME'");
        assert_eq!(q(""), "''");
    }

    #[test]
    fn directive_paths_refuse_what_sbatch_would_split_or_expand() {
        assert!(check_directive_path("d", Path::new("/srv/camp-1")).is_ok());
        for bad in [
            "/srv/a b",
            "/srv/100%",
            "/srv/a\\b",
            "/srv/\"x\"",
            "/srv/a#b",
        ] {
            assert!(check_directive_path("d", Path::new(bad)).is_err(), "{bad}");
        }
    }
}
