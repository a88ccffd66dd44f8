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
    /// The digest resolver could not be set up: a lockfile that cannot be read, does not
    /// parse or holds a malformed entry (exit 2), or a resolver setting it refuses (exit 3).
    #[error(transparent)]
    Registry(#[from] Box<chart_harden_registry::ResolveError>),
    /// Image digest resolution failed and the policy is `fail` (exit 3): the first image that
    /// failed, its registry and the cause.
    #[error("cannot pin image digests: {0}")]
    Pin(Box<chart_harden_registry::ResolveError>),
    /// The lockfile could not be written (exit 3).
    #[error("cannot write the lockfile: {0}")]
    LockfileWrite(Box<chart_harden_registry::ResolveError>),
    /// The async runtime that resolves digests could not start (exit 3).
    #[error("cannot start the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
    /// A bug: the pipeline broke one of its own promises (fixes that do not converge). Exit
    /// code 2 and the words of the message as they always were.
    #[error("configuration: {0}")]
    Internal(String),
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
        use chart_harden_registry::ResolveError;
        match self {
            // A lockfile that does not parse (or holds a malformed digest) is an input error.
            Error::Registry(e) if matches!(**e, ResolveError::Lockfile(_)) => 2,
            Error::Registry(_)
            | Error::Pin(_)
            | Error::LockfileWrite(_)
            | Error::AsyncRuntime(_) => 3,
            _ => 2,
        }
    }
}
