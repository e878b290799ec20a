//! The one validation error: which field, and what is wrong with it, in words
//! an operator can act on. The coordinator turns it into a 400 naming the field.

/// A value was refused; `field` is the JSON path of the offending input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    /// Where the value came from, e.g. `nodes[1].port`.
    pub field: String,
    /// What is wrong and what to do instead.
    pub problem: String,
}

impl Invalid {
    /// A refusal of `field` because of `problem`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same refusal, with `prefix` put in front of the field path.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}
