//! Kafka's `sasl.jaas.config` syntax, parsed as Kafka's `JaasConfig` parses it:
//! `<LoginModuleClass> <controlFlag> (<name>=<value>)*;` with values bare words or quoted
//! strings, and `//` and `/* */` comments. A broker's property holds exactly one login module.

use std::collections::BTreeMap;

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    /// `required`, `requisite`, `sufficient` or `optional`, lower-cased.
    pub control_flag: String,
    /// The options, e.g. `user_alice` → `alice-secret` (PLAIN users on a broker).
    pub options: BTreeMap<String, String>,
}

/// What a JAAS configuration must look like, for error messages.
pub const JAAS_SYNTAX: &str = "<LoginModuleClass> required (<name>=\"<value>\")*;";

#[derive(Debug, PartialEq)]
enum Token {
    /// A bare word: letters, digits, `.`, `-`, `_`, `$`, not starting with a digit or `.`.
    Word(String),
    /// A quoted string, escapes resolved.
    Quoted(String),
    /// A number (Java's tokenizer has no string value for it, so it cannot be a value).
    Number,
    /// Any other character, e.g. `=` or `;`.
    Symbol(char),
}

impl Token {
    fn text(&self) -> Option<&str> {
        match self {
            Token::Word(s) | Token::Quoted(s) => Some(s),
            Token::Number | Token::Symbol(_) => None,
        }
    }
}

/// Parses a broker's JAAS property: exactly one login module entry. Errors name what is wrong
/// (never an option's value: they are passwords).
pub fn parse_jaas_config(text: &str) -> Result<JaasEntry, String> {
    let tokens = tokenize(text)?;
    let mut tokens = tokens.into_iter().peekable();
    let mut entries = Vec::new();
    while let Some(first) = tokens.next() {
        let login_module = match first {
            Token::Word(name) => name,
            _ => return Err("a login module class name is expected first".into()),
        };
        let control_flag = match tokens.next() {
            None => return Err("the login module control flag is missing".into()),
            // A quoted string is never echoed: it may be a misplaced password.
            Some(Token::Quoted(_)) => {
                return Err("the login module control flag must not be quoted".into())
            }
            Some(token) => match token.text().map(str::to_ascii_lowercase) {
                Some(flag)
                    if matches!(
                        flag.as_str(),
                        "required" | "requisite" | "sufficient" | "optional"
                    ) =>
                {
                    flag
                }
                Some(flag) => {
                    return Err(format!(
                        "`{flag}` is not a login module control flag \
                         (required, requisite, sufficient or optional)"
                    ))
                }
                None => return Err("the login module control flag is missing".into()),
            },
        };
        let mut options = BTreeMap::new();
        loop {
            match tokens.next() {
                None => return Err("the entry is not terminated by `;`".into()),
                Some(Token::Symbol(';')) => break,
                Some(Token::Word(key)) => {
                    let value = match (tokens.next(), tokens.next()) {
                        (Some(Token::Symbol('=')), Some(Token::Word(v) | Token::Quoted(v))) => v,
                        _ => return Err(format!("no value given for option `{key}`")),
                    };
                    options.insert(key, value);
                }
                Some(_) => return Err("an option name is expected before `=`".into()),
            }
        }
        entries.push(JaasEntry { login_module, control_flag, options });
    }
    match entries.len() {
        0 => Err("no login module is given".into()),
        1 => Ok(entries.remove(0)),
        n => Err(format!("{n} login modules are given; a broker's property takes exactly 1")),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let word_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '$');
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() || c.is_control() => {}
            '/' if chars.peek() == Some(&'/') => while chars.next().is_some_and(|c| c != '\n') {},
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    match chars.next() {
                        None => return Err("a `/*` comment is not closed".into()),
                        Some('/') if last == '*' => break,
                        Some(c) => last = c,
                    }
                }
            }
            '"' | '\'' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is not closed".into()),
                        Some(q) if q == c => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some(other) => value.push(other),
                            None => return Err("a quoted value is not closed".into()),
                        },
                        Some(other) => value.push(other),
                    }
                }
                out.push(Token::Quoted(value));
            }
            c if c.is_ascii_digit() || c == '.' => {
                while chars.peek().is_some_and(|c| c.is_ascii_digit() || *c == '.') {
                    chars.next();
                }
                out.push(Token::Number);
            }
            c if word_char(c) => {
                let mut word = c.to_string();
                while let Some(c) = chars.peek().copied().filter(|c| word_char(*c)) {
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
            other => out.push(Token::Symbol(other)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_plain_login_module_parses() {
        let entry = parse_jaas_config(
            "org.apache.kafka.common.security.plain.PlainLoginModule required\n \
             username=\"admin\" password='admin-secret' // the admin\n \
             user_admin=\"admin-secret\" /* and alice */ user_alice=\"a\\\"b\";",
        )
        .unwrap();
        assert_eq!(entry.login_module, "org.apache.kafka.common.security.plain.PlainLoginModule");
        assert_eq!(entry.control_flag, "required");
        assert_eq!(entry.options["password"], "admin-secret");
        assert_eq!(entry.options["user_alice"], "a\"b");
        assert_eq!(entry.options.len(), 4);
        let bare = parse_jaas_config("x REQUIRED user_a=plain-word;").unwrap();
        assert_eq!(bare.options["user_a"], "plain-word");
        assert_eq!(bare.control_flag, "required");
    }

    #[test]
    fn what_kafka_refuses_is_refused_without_echoing_values() {
        for (bad, why) in [
            ("hello world", "`world` is not a login module control flag"),
            ("", "no login module"),
            ("x", "control flag is missing"),
            ("x required user_a=\"topsecret\"", "not terminated by `;`"),
            ("x required user_a;", "no value given for option `user_a`"),
            ("x required user_a=1234;", "no value given for option `user_a`"),
            ("x required =\"topsecret\";", "option name is expected"),
            ("x required; y required;", "2 login modules"),
            ("x required user_a=\"topsecret;", "not closed"),
            ("\"x\" required;", "login module class name"),
            ("x \"topsecret\" user_a=\"b\";", "must not be quoted"),
        ] {
            let err = parse_jaas_config(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("topsecret"), "{err}");
        }
    }
}
