//! A minimal INI reader for DeepFilterNet's `config.ini` (Python `configparser` subset).
//!
//! Supports `[section]` headers, `key = value` (or `key: value`) lines, blank lines and
//! full-line `#`/`;` comments. Keys are case-insensitive (lower-cased, as configparser does);
//! a key repeated within a section is an error, as in configparser's strict mode.

use std::collections::HashMap;

use super::ConfigError;

/// Parsed sections: `section -> key -> value` (values trimmed, may be empty).
#[derive(Debug, Default)]
pub(crate) struct Ini {
    sections: HashMap<String, HashMap<String, String>>,
}

impl Ini {
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut ini = Ini::default();
        let mut current: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or(ConfigError::Syntax { line: line_no, reason: "section header without closing ]" })?
                    .trim();
                if ini.sections.contains_key(name) {
                    return Err(ConfigError::Syntax { line: line_no, reason: "section appears twice" });
                }
                ini.sections.insert(name.to_owned(), HashMap::new());
                current = Some(name.to_owned());
                continue;
            }
            let section = current
                .as_ref()
                .and_then(|s| ini.sections.get_mut(s))
                .ok_or(ConfigError::Syntax { line: line_no, reason: "key before the first [section]" })?;
            let split =
                line.find(['=', ':']).ok_or(ConfigError::Syntax { line: line_no, reason: "expected `key = value`" })?;
            let key = line[..split].trim().to_lowercase();
            let value = line[split + 1..].trim().to_owned();
            if key.is_empty() {
                return Err(ConfigError::Syntax { line: line_no, reason: "empty key" });
            }
            if section.insert(key, value).is_some() {
                return Err(ConfigError::Syntax { line: line_no, reason: "key appears twice in its section" });
            }
        }
        Ok(ini)
    }

    /// The value of `key` in `section`, if present.
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section).and_then(|s| s.get(key)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_keys_comments_and_empty_values() {
        let ini = Ini::parse("# c\n[df]\nsr = 48000\n; c\nDevice =\n[b]\nk: v, w\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ini.get("df", "sr"), Some("48000"));
        assert_eq!(ini.get("df", "device"), Some(""));
        assert_eq!(ini.get("b", "k"), Some("v, w"));
        assert_eq!(ini.get("b", "sr"), None);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        for (text, line) in
            [("sr = 1\n", 1), ("[df]\nsr 1\n", 2), ("[df\n", 1), ("[a]\nx=1\nx=2\n", 3), ("[a]\n[a]\n", 2)]
        {
            match Ini::parse(text) {
                Err(ConfigError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: expected a syntax error, got {other:?}"),
            }
        }
    }
}
