//! Input checks shared by every form: lengths, identifiers, MAC and IP addresses, and text
//! that machines and agents send.

use crate::error::FieldErrors;

pub const MAX_NAME: usize = 64;
pub const MAX_TEXT: usize = 200;
pub const MAX_LONG_TEXT: usize = 4000;

/// Trims `value` and checks it is at most `max` characters (and present when `required`).
pub fn text(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        errors.add(field, "is required");
    } else if value.chars().count() > max {
        errors.add(field, format!("is longer than {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.add(field, "contains control characters");
    }
    value.to_string()
}

/// An identifier: letters, digits, `.`, `_`, `-`; starts with a letter or digit.
pub fn identifier(errors: &mut FieldErrors, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.add(field, "is required");
    } else if value.len() > MAX_NAME {
        errors.add(field, format!("is longer than {MAX_NAME} characters"));
    } else if !value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        errors.add(
            field,
            "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit",
        );
    }
    value.to_string()
}

/// The name of a file in a served root (the TFTP root, also served over HTTP): letters, digits,
/// `.`, `_`, `-`, not starting with a dot, no directories. Empty stays empty when not
/// `required`.
pub fn file_name(errors: &mut FieldErrors, field: &str, value: &str, required: bool) -> String {
    let value = value.trim();
    if value.is_empty() {
        if required {
            errors.add(field, "is required");
        }
    } else if value.len() > MAX_NAME {
        errors.add(field, format!("is longer than {MAX_NAME} characters"));
    } else if !is_plain_file_name(value) {
        errors.add(
            field,
            "must be a file name of the TFTP root like ipxe.efi: letters, digits, '.', '_', '-', not starting with '.'",
        );
    }
    value.to_string()
}

/// A file directly in a served root: letters, digits, `.`, `_`, `-`, not empty and not
/// starting with a dot (no directories, no hidden files, no way out of the root).
pub fn is_plain_file_name(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parses a MAC address written as `aa:bb:cc:dd:ee:ff`, `aa-bb-…` or `aabb.ccdd.eeff`,
/// returning the canonical lower-case colon form.
pub fn parse_mac(value: &str) -> Option<String> {
    let hex: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    let separators_ok = {
        let v = value.trim();
        let groups: Vec<&str> = v.split([':', '-']).collect();
        let dotted: Vec<&str> = v.split('.').collect();
        (groups.len() == 6 && groups.iter().all(|g| g.len() == 2))
            || (dotted.len() == 3 && dotted.iter().all(|g| g.len() == 4))
            || (groups.len() == 1 && dotted.len() == 1 && v.len() == 12)
    };
    if !separators_ok || hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

/// Password rules: long enough to matter, short enough not to be a hashing DoS.
pub fn password(errors: &mut FieldErrors, field: &str, value: &str) {
    let length = value.chars().count();
    if length < 8 {
        errors.add(field, "must be at least 8 characters");
    } else if length > 256 {
        errors.add(field, "must be at most 256 characters");
    }
}

/// An IP address in one spelling (an IPv4-mapped IPv6 address as IPv4), or `None`.
pub fn canonical_ip(text: &str) -> Option<std::net::IpAddr> {
    text.trim()
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Whether both are the same IP address (however spelled); false when either is not one.
pub fn same_ip(a: &str, b: &str) -> bool {
    canonical_ip(a).is_some_and(|ip| canonical_ip(b) == Some(ip))
}

/// Text a machine or an agent sent, for storing: control characters dropped, at most `max`
/// characters.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_in_common_notations_are_canonicalised() {
        assert_eq!(
            parse_mac("AA:BB:CC:DD:EE:FF").as_deref(),
            Some("aa:bb:cc:dd:ee:ff")
        );
        assert_eq!(
            parse_mac("aa-bb-cc-dd-ee-01").as_deref(),
            Some("aa:bb:cc:dd:ee:01")
        );
        assert_eq!(
            parse_mac("aabb.ccdd.ee02").as_deref(),
            Some("aa:bb:cc:dd:ee:02")
        );
        assert_eq!(
            parse_mac(" 001122334455 ").as_deref(),
            Some("00:11:22:33:44:55")
        );
    }

    #[test]
    fn malformed_mac_addresses_are_rejected() {
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:gg",
            "aa:bb:cc:dd:ee:ff:00",
            "aab:bcc:dd:ee:ff:0",
            "zz",
            "a:b:c:d:e:f",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn identifiers_reject_spaces_and_leading_punctuation() {
        let mut errors = FieldErrors::default();
        identifier(&mut errors, "name", "node-01");
        assert!(errors.is_empty());
        identifier(&mut errors, "name", "-node");
        identifier(&mut errors, "name", "node 1");
        identifier(&mut errors, "name", &"x".repeat(65));
        assert_eq!(errors.0.len(), 3);
    }

    #[test]
    fn over_long_text_names_the_field() {
        let mut errors = FieldErrors::default();
        text(
            &mut errors,
            "location",
            &"r".repeat(MAX_TEXT + 1),
            MAX_TEXT,
            false,
        );
        assert_eq!(errors.0[0].field, "location");
        assert!(errors.0[0].message.contains("longer than"));
    }
}
