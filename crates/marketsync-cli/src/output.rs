//! Human output by default, one JSON document per command with `--json`.
//!
//! With `--json`, stdout carries exactly one JSON document (the command's result, shapes in the
//! crate's README), notes for people are not printed, and an error is written to stderr as
//! `{"error": {"code": "...", "message": "..."}}`. Without it, stdout carries the human text
//! and an error is one `error: ...` line on stderr.

use std::io::Write;

use serde::Serialize;

use crate::error::CliError;

/// Where a command writes its result.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Human output (`json = false`) or JSON (`--json`).
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints the command's result: `doc` as one JSON document with `--json`, else the text
    /// `human` makes of it (printed as is; end it with a newline).
    pub fn print<T: Serialize>(
        &self,
        doc: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let text = serde_json::to_string_pretty(doc)
                .map_err(|e| CliError::Other(format!("writing the JSON output: {e}")))?;
            writeln!(stdout, "{text}")?;
        } else {
            write!(stdout, "{}", human(doc))?;
        }
        stdout.flush()?;
        Ok(())
    }

    /// A line for the person at the terminal (progress, the next step), on stderr; not printed
    /// with `--json`.
    pub fn note(&self, line: impl std::fmt::Display) {
        if !self.json {
            eprintln!("{line}");
        }
    }

    /// A line the person must see even with `--json` (a login URL, a device code), on stderr.
    pub fn prompt(&self, line: impl std::fmt::Display) {
        eprintln!("{line}");
    }

    /// Writes an error to stderr: JSON with `--json`, else one `error:` line.
    pub fn error(&self, error: &CliError) {
        if self.json {
            let doc = serde_json::json!({
                "error": { "code": error.code(), "message": error.to_string() }
            });
            eprintln!("{doc}");
        } else {
            eprintln!("error: {error}");
        }
    }
}
