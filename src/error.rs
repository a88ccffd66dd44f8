//! Library errors. Every input error names the document (index, kind/name, template file).

/// What can go wrong in a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not UTF-8.
    #[error("input is not valid UTF-8 (first bad byte at offset {offset})")]
    Utf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A document is not valid YAML (or exceeds a safety budget).
    #[error("{doc}: invalid YAML: {message}")]
    Yaml {
        /// Document label.
        doc: String,
        /// Parser message with line/column.
        message: String,
    },
    /// A document is YAML but not a Kubernetes object.
    #[error("{doc}: {message}")]
    NotAnObject {
        /// Document label.
        doc: String,
        /// What is missing or wrong.
        message: String,
    },
    /// A field a rule must read has a type Kubernetes would reject.
    #[error("{doc}: field `{path}`: {message}")]
    Field {
        /// Document label.
        doc: String,
        /// Field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Bad configuration (config file, profile, rule ids, flags).
    #[error("configuration: {0}")]
    Config(String),
    /// A patch could not be applied faithfully.
    #[error("{doc}: {source}")]
    Patch {
        /// Document label.
        doc: String,
        /// The patcher's error.
        source: crate::yaml::edit::EditError,
    },
    /// The lockfile cannot be read, does not parse or holds a malformed entry (exit 2).
    #[error("{0}")]
    Lockfile(String),
    /// Image digest resolution failed and the policy is `fail`.
    #[error("{0}")]
    Resolve(String),
    /// I/O on a file the user named.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// Process exit code for this error (2 input/usage, 3 registry).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Resolve(_) => 3,
            _ => 2,
        }
    }
}
