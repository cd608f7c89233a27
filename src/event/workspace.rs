//! Payloads of the workspace events: `terminal_command` (FR-EVT-001), `editor_edit`
//! (FR-EVT-002), `diagnostic` (FR-EVT-003) and `debug_bundle_export` (FR-EVT-005).
//!
//! Raw content (command output, file text, environments) is never inline: only `*_ref`
//! references to stored artifacts and `*_hash` digests.

use serde::{Deserialize, Serialize};

use super::InvalidEvent;
use super::check::{Range, StrVisitor, non_empty, visit_list, visit_opt};
use super::names::string_enum;

/// FR-EVT-001 `terminal_command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalCommand {
    /// Terminal session; non-empty.
    pub session_id: String,
    /// The program run; non-empty.
    pub command: String,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cwd: Option<String>,
    /// Arguments after `command`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args: Option<Vec<String>>,
    /// Exit status (negative values are allowed: some platforms report them).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i64>,
    /// Wall time in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
    /// Reference to the stored stdout.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stdout_ref: Option<String>,
    /// Reference to the stored stderr.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stderr_ref: Option<String>,
    /// Reference to the stored environment.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub env_ref: Option<String>,
}

impl TerminalCommand {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.session_id", &self.session_id)?;
        non_empty("payload.command", &self.command)
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.session_id);
        f(&mut self.command);
        visit_opt(&mut self.cwd, f);
        visit_list(&mut self.args, f);
        visit_opt(&mut self.stdout_ref, f);
        visit_opt(&mut self.stderr_ref, f);
        visit_opt(&mut self.env_ref, f);
    }
}

string_enum! {
    /// The editor an `editor_edit` happened in.
    pub enum EditorSurface("editor surface") {
        Monaco = "monaco",
        Canvas = "canvas",
        Sheet = "sheet",
    }
}

/// FR-EVT-002 `editor_edit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditorEdit {
    /// Which editor.
    pub editor_surface: EditorSurface,
    /// The edited document; non-empty.
    pub document_id: String,
    /// The edit operations; at least one.
    #[serde(deserialize_with = "super::obj::list_of_objects")]
    pub ops: Vec<EditOp>,
    /// Document digest before the edit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before_hash: Option<String>,
    /// Document digest after the edit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after_hash: Option<String>,
}

/// One operation of an `editor_edit`: the range replaced, and digests of the text inserted and
/// deleted (never the text itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditOp {
    /// The replaced range of the document before the op.
    #[serde(deserialize_with = "super::obj::object")]
    pub range: Range,
    /// Digest of the inserted text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub insert_hash: Option<String>,
    /// Digest of the deleted text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delete_hash: Option<String>,
}

impl EditorEdit {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.document_id", &self.document_id)?;
        if self.ops.is_empty() {
            return Err(InvalidEvent::new("payload.ops", "must contain at least one op"));
        }
        for (i, op) in self.ops.iter().enumerate() {
            if op.range.end < op.range.start {
                op.range.validate(&format!("payload.ops[{i}].range"))?;
            }
        }
        Ok(())
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.document_id);
        for op in &mut self.ops {
            visit_opt(&mut op.insert_hash, f);
            visit_opt(&mut op.delete_hash, f);
        }
        visit_opt(&mut self.before_hash, f);
        visit_opt(&mut self.after_hash, f);
    }
}

string_enum! {
    /// How bad a `diagnostic` is.
    pub enum Severity("severity") {
        Fatal = "fatal",
        Error = "error",
        Warning = "warning",
        Info = "info",
        Hint = "hint",
    }
}

/// FR-EVT-003 `diagnostic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// Identity of the diagnostic; non-empty.
    pub diagnostic_id: String,
    /// How bad it is.
    pub severity: Severity,
    /// What produced it (a compiler, linter, language server…).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    /// Reference to the stored message text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message_ref: Option<String>,
    /// The file it is about.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    /// Where in `file`.
    #[serde(skip_serializing_if = "Option::is_none", default, deserialize_with = "super::obj::opt_object")]
    pub range: Option<Range>,
}

impl Diagnostic {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.diagnostic_id", &self.diagnostic_id)?;
        match &self.range {
            Some(r) => r.validate("payload.range"),
            None => Ok(()),
        }
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.diagnostic_id);
        visit_opt(&mut self.source, f);
        visit_opt(&mut self.message_ref, f);
        visit_opt(&mut self.file, f);
    }
}

string_enum! {
    /// What a debug bundle covers.
    pub enum BundleScope("bundle scope") {
        Job = "job",
        Trace = "trace",
        TimeRange = "time_range",
        Workspace = "workspace",
    }
}

string_enum! {
    /// How much a debug bundle was redacted.
    pub enum RedactionMode("redaction mode") {
        SafeDefault = "safe_default",
        Workspace = "workspace",
        FullLocal = "full_local",
    }
}

/// FR-EVT-005 `debug_bundle_export`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugBundleExport {
    /// Identity of the bundle; non-empty.
    pub bundle_id: String,
    /// What it covers.
    pub scope: BundleScope,
    /// How it was redacted.
    pub redaction_mode: RedactionMode,
    /// Number of events in it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub included_event_count: Option<u64>,
}

impl DebugBundleExport {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.bundle_id", &self.bundle_id)
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.bundle_id);
    }
}
