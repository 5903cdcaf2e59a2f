//! Client properties as Kafka's tools read them from `--command-config`: `key=value` lines,
//! `#`/`!` comments, Kafka's property names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// Client properties by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientProperties(pub BTreeMap<String, String>);

impl ClientProperties {
    /// Reads a `.properties` file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// Parses `.properties` text (`key=value` or `key: value`; continuation lines with `\`).
    pub fn parse(text: &str) -> Self {
        let mut out = BTreeMap::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim_start();
            if pending.is_empty()
                && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
            {
                continue;
            }
            if let Some(start) = line.strip_suffix('\\') {
                pending.push_str(start);
                continue;
            }
            pending.push_str(line);
            let entry = std::mem::take(&mut pending);
            let split = entry.find(['=', ':']).unwrap_or(entry.len());
            let (key, value) = entry.split_at(split);
            let value = value.get(1..).unwrap_or("");
            out.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        ClientProperties(out)
    }

    /// A property's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `security.protocol`, PLAINTEXT by default.
    pub fn security_protocol(&self) -> String {
        self.get("security.protocol").unwrap_or("PLAINTEXT").to_ascii_uppercase()
    }

    /// SASL user and password: `sasl.username`/`sasl.password` (librdkafka's names) or the
    /// `username="..." password="..."` options of `sasl.jaas.config` (Java clients').
    pub fn sasl_credentials(&self) -> Option<(String, String)> {
        if let (Some(user), Some(password)) = (self.get("sasl.username"), self.get("sasl.password"))
        {
            return Some((user.to_owned(), password.to_owned()));
        }
        let jaas = self.get("sasl.jaas.config")?;
        Some((jaas_option(jaas, "username")?, jaas_option(jaas, "password")?))
    }
}

/// The value of `name="value"` in a JAAS configuration line.
fn jaas_option(jaas: &str, name: &str) -> Option<String> {
    let mut rest = jaas;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || rest[..at].ends_with(|c: char| c.is_whitespace());
        let after = rest[at + name.len()..].trim_start();
        if before_ok {
            if let Some(value) = after.strip_prefix('=') {
                let value = value.trim_start().strip_prefix('"')?;
                let mut out = String::new();
                let mut chars = value.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => out.push(chars.next()?),
                        '"' => return Some(out),
                        c => out.push(c),
                    }
                }
                return None;
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_and_librdkafka_styles_both_give_credentials() {
        let java = ClientProperties::parse(
            "# admin\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  username=\"admin\" password=\"a\\\"b\";\n",
        );
        assert_eq!(java.security_protocol(), "SASL_SSL");
        assert_eq!(java.sasl_credentials(), Some(("admin".into(), "a\"b".into())));
        let rdkafka = ClientProperties::parse("sasl.username = bob\nsasl.password: pw\n");
        assert_eq!(rdkafka.sasl_credentials(), Some(("bob".into(), "pw".into())));
        assert_eq!(rdkafka.security_protocol(), "PLAINTEXT");
    }
}
