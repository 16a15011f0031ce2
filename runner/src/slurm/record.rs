//! `airlock-slurm.json`: which Slurm jobs run a campaign directory's
//! shards. `submit` writes it, `status --resubmit` appends to it; it is
//! replaced atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves the old record or the new one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SlurmError;

/// File name of the record in the campaign directory.
pub const RECORD_FILE: &str = "airlock-slurm.json";

/// The record's format tag.
pub const RECORD_FORMAT: &str = "airlock-slurm/1";

/// What was submitted for one campaign directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Always [`RECORD_FORMAT`].
    pub format: String,
    /// The campaign plan, absolute.
    pub plan: PathBuf,
    /// Number of shards in the plan.
    pub shards: u32,
    /// Shards run at once at most, `None` for no limit.
    pub concurrent: Option<u32>,
    /// Every submission, oldest first.
    pub submissions: Vec<Submission>,
}

/// One `sbatch` of the shard array and its finish job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The array job's id.
    pub array_job: u64,
    /// The finish job's id.
    pub finish_job: u64,
    /// The shard indices this array runs.
    pub shards: Vec<u32>,
    /// When it was submitted, seconds since the Unix epoch.
    pub submitted_unix: u64,
}

impl Record {
    /// Reads and checks `DIR/airlock-slurm.json`.
    pub fn load(dir: &Path) -> Result<Record, SlurmError> {
        let path = dir.join(RECORD_FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| SlurmError::Io {
            path: path.clone(),
            action: "read the Slurm record (was the campaign submitted with `airlock slurm submit`?)",
            error,
        })?;
        let record: Record = serde_json::from_str(&text).map_err(|e| SlurmError::Record {
            path: path.clone(),
            reason: format!("not an airlock Slurm record: {e}"),
        })?;
        if record.format != RECORD_FORMAT {
            return Err(SlurmError::Record {
                path,
                reason: format!(
                    "format {:?}, this airlock reads {RECORD_FORMAT:?}",
                    record.format
                ),
            });
        }
        for submission in &record.submissions {
            if let Some(bad) = submission.shards.iter().find(|&&s| s >= record.shards) {
                return Err(SlurmError::Record {
                    path,
                    reason: format!(
                        "job {} runs shard {bad}, but the campaign has {} shards",
                        submission.array_job, record.shards
                    ),
                });
            }
        }
        Ok(record)
    }

    /// Writes the record to `DIR/airlock-slurm.json`, replacing it atomically.
    pub fn store(&self, dir: &Path) -> Result<(), SlurmError> {
        let path = dir.join(RECORD_FILE);
        let io = |action: &'static str| {
            let path = path.clone();
            move |error| SlurmError::Io {
                path,
                action,
                error,
            }
        };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| SlurmError::Record {
            path: path.clone(),
            reason: format!("cannot encode the record: {e}"),
        })?;
        text.push('\n');
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io("make a temporary file"))?;
        temp.write_all(text.as_bytes())
            .map_err(io("write the temporary record"))?;
        temp.as_file()
            .sync_all()
            .map_err(io("fsync the temporary record"))?;
        temp.persist(&path)
            .map_err(|e| io("rename the temporary record")(e.error))?;
        // The rename is durable only once the directory is.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync the directory of"))?;
        Ok(())
    }
}
