//! Java properties files as Kafka writes them (`meta.properties`): `name=value` lines, `#` and
//! `!` comments. Errors name the file and say what is wrong with it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::storage::Storage;

/// Reads `path` through `storage` as a properties file. A file that cannot be read, or that is
/// not text (binary, not UTF-8), is refused with its path.
pub fn read_properties_file(
    storage: &dyn Storage,
    path: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let read = || -> std::io::Result<Vec<u8>> {
        let file = storage.open(path, false)?;
        let mut buf = vec![0u8; file.len()? as usize];
        file.read_exact_at(0, &mut buf)?;
        Ok(buf)
    };
    let bytes = read().with_context(|| format!("cannot read {}", path.display()))?;
    parse_properties(&bytes)
        .map_err(|why| anyhow::anyhow!("{} is not a properties file: {why}", path.display()))
}

/// Parses properties text; the error says where it stops being text.
fn parse_properties(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "byte {} is not UTF-8 text (a binary or damaged file; a meta.properties holds \
             lines such as cluster.id=... and node.id=...)",
            e.valid_up_to()
        )
    })?;
    if let Some(position) = text.find('\0') {
        return Err(format!("byte {position} is a NUL byte (a binary or damaged file)"));
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once(['=', ':']))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_meta_properties_parse() {
        let props = parse_properties(
            b"#\n#Tue Dec 01 10:00:00 UTC 2026\nnode.id=1\nversion=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\n",
        )
        .unwrap();
        assert_eq!(props["cluster.id"], "MkU3OEVBNTcwNTJENDM2Qg");
        assert_eq!(props["node.id"], "1");
        assert_eq!(props.len(), 3);
    }

    #[test]
    fn binary_files_are_refused_with_the_position() {
        let err = parse_properties(b"cluster.id=x\n\xff\xfe").unwrap_err();
        assert!(err.contains("byte 13 is not UTF-8"), "{err}");
        let err = parse_properties(b"node.id=1\0\0").unwrap_err();
        assert!(err.contains("byte 9 is a NUL byte"), "{err}");
    }

    #[test]
    fn the_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.properties");
        std::fs::write(&path, [0x00, 0x9f, 0x92, 0x96]).unwrap();
        let err = read_properties_file(&crate::storage::FileStorage::new(), &path).unwrap_err();
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        let missing = dir.path().join("absent.properties");
        let err = read_properties_file(&crate::storage::FileStorage::new(), &missing).unwrap_err();
        assert!(format!("{err:#}").contains("absent.properties"), "{err:#}");
    }
}
