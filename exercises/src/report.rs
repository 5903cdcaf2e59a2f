//! What a checker says: one line per check, ✓ or ✗ with the precise fix.

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub passed: bool,
    /// What was checked (✓) or what is wrong and how to fix it (✗), one line.
    pub message: String,
}

/// Every check of one exercise, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Records a check that passed.
    pub fn pass(&mut self, message: impl Into<String>) {
        self.checks.push(Check { passed: true, message: message.into() });
    }

    /// Records a failed check: `problem: fix`.
    pub fn fail(&mut self, problem: impl std::fmt::Display, fix: impl std::fmt::Display) {
        self.checks.push(Check { passed: false, message: format!("{problem}: {fix}") });
    }

    /// Records a failed check whose message already says what to do.
    pub fn fail_msg(&mut self, message: impl Into<String>) {
        self.checks.push(Check { passed: false, message: message.into() });
    }

    /// Records `ok` as passed with `message`, or failed with `problem: fix`; returns `ok`.
    pub fn expect(
        &mut self,
        ok: bool,
        message: impl Into<String>,
        problem: impl std::fmt::Display,
        fix: impl std::fmt::Display,
    ) -> bool {
        if ok {
            self.pass(message);
        } else {
            self.fail(problem, fix);
        }
        ok
    }

    /// True when every check passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The failure messages.
    pub fn failures(&self) -> Vec<&str> {
        self.checks.iter().filter(|c| !c.passed).map(|c| c.message.as_str()).collect()
    }

    /// Whether some check (passed or failed) contains `text`.
    pub fn mentions(&self, text: &str) -> bool {
        self.checks.iter().any(|c| c.message.contains(text))
    }

    /// Appends every check of `other`.
    pub fn extend(&mut self, other: Report) {
        self.checks.extend(other.checks);
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for check in &self.checks {
            writeln!(f, "{} {}", if check.passed { "✓" } else { "✗" }, check.message)?;
        }
        Ok(())
    }
}
