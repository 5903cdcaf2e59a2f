//! Kafka principals (`User:alice`) and `ssl.principal.mapping.rules`.

use regex::Regex;

/// An authenticated identity as Kafka writes it: `User:alice`, `User:ANONYMOUS`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    /// Always `User` for the principals this broker builds.
    pub kind: String,
    /// The user name: a SASL user name, or a mapped certificate subject.
    pub name: String,
}

impl Principal {
    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Self {
        Principal { kind: "User".into(), name: name.into() }
    }

    /// `User:ANONYMOUS`: PLAINTEXT clients and SSL clients without a certificate.
    pub fn anonymous() -> Self {
        Principal::user("ANONYMOUS")
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// One entry of `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
enum Rule {
    /// Keep the subject as it is.
    Default,
    /// `RULE:pattern/replacement/[L|U]`: the pattern must match the whole subject.
    Replace { pattern: Regex, replacement: String, case: Option<char> },
}

/// The parsed `ssl.principal.mapping.rules`: the first rule whose pattern matches decides.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    /// Parses Kafka's syntax, e.g. `RULE:^CN=(.*?),OU=(.*?)$/$1@$2/L,DEFAULT`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = split_unescaped(after)
                    .ok_or_else(|| format!("`{rest}`: expected RULE:pattern/replacement/"))?;
                let (replacement, after) = split_unescaped(after)
                    .ok_or_else(|| format!("`{rest}`: expected RULE:pattern/replacement/"))?;
                let (case, after) = match after.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &after[1..]),
                    _ => (None, after),
                };
                let pattern = Regex::new(&format!("^(?:{})$", pattern.replace("\\/", "/")))
                    .map_err(|e| format!("`{pattern}` is not a valid pattern: {e}"))?;
                rules.push(Rule::Replace {
                    pattern,
                    replacement: java_replacement(&replacement.replace("\\/", "/")),
                    case,
                });
                rest = after;
            } else {
                return Err(format!("`{rest}`: each rule is DEFAULT or RULE:pattern/replacement/"));
            }
            rest = rest.trim_start().strip_prefix(',').unwrap_or(rest).trim_start();
        }
        if rules.is_empty() {
            rules.push(Rule::Default);
        }
        Ok(PrincipalMapper { rules })
    }

    /// The user name for a certificate subject; `None` when no rule matches (Kafka refuses the
    /// connection then).
    pub fn map(&self, subject: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(subject.to_owned()),
            Rule::Replace { pattern, replacement, case } => {
                let captures = pattern.captures(subject)?;
                let mut name = String::new();
                captures.expand(replacement, &mut name);
                Some(match case {
                    Some('L') => name.to_lowercase(),
                    Some('U') => name.to_uppercase(),
                    _ => name,
                })
            }
        })
    }
}

/// Splits at the first `/` not preceded by a backslash.
fn split_unescaped(text: &str) -> Option<(String, &str)> {
    let mut previous = '\0';
    for (i, c) in text.char_indices() {
        if c == '/' && previous != '\\' {
            return Some((text[..i].to_owned(), &text[i + 1..]));
        }
        previous = c;
    }
    None
}

/// Java writes group references as `$1`; the regex crate would read `$1abc` as a group named
/// `1abc`, so each becomes `${1}`.
fn java_replacement(replacement: &str) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            out.push_str(&format!("${{{digits}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_whole_subject() {
        let mapper = PrincipalMapper::parse("DEFAULT").unwrap();
        assert_eq!(mapper.map("CN=alice,O=kafka-lab").as_deref(), Some("CN=alice,O=kafka-lab"));
    }

    #[test]
    fn rules_apply_in_order_with_case_and_fallback() {
        let mapper = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, RULE:^CN=([a-z]+),O=.*$/$1/,DEFAULT",
        )
        .unwrap();
        assert_eq!(
            mapper.map("CN=Alice,OU=Payments,O=kafka-lab").as_deref(),
            Some("alice@payments")
        );
        assert_eq!(mapper.map("CN=bob,O=kafka-lab").as_deref(), Some("bob"));
        assert_eq!(mapper.map("CN=Carol,O=x").as_deref(), Some("CN=Carol,O=x"));
        let strict = PrincipalMapper::parse("RULE:^CN=([a-z]+),O=.*$/$1/U").unwrap();
        assert_eq!(strict.map("CN=bob,O=kafka-lab").as_deref(), Some("BOB"));
        assert_eq!(strict.map("OU=x"), None);
    }

    #[test]
    fn garbage_rules_are_refused() {
        assert!(PrincipalMapper::parse("RULE:^CN=(.*$/$1/").is_err());
        assert!(PrincipalMapper::parse("RULE:abc").is_err());
        assert!(PrincipalMapper::parse("SOMETHING").is_err());
    }
}
