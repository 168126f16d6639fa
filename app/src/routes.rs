//! Who may open which page. The server enforces this table before rendering, and the
//! authorization matrix test fails for any route missing from it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in user; the page's data is then filtered by the lab's permissions.
    User,
    /// Admins only.
    Admin,
}

/// Every page route and its access rule.
pub const PAGES: &[(&str, Access)] = &[
    ("/", Access::User),
    ("/login", Access::Public),
    ("/machines/:id", Access::User),
    ("/machines/:id/edit", Access::User),
    ("/reservations", Access::User),
    ("/reservations/:id/extend", Access::User),
    ("/calendar", Access::User),
    ("/batches/new", Access::User),
    ("/batches/:id", Access::User),
    ("/notices", Access::User),
    ("/images", Access::User),
    ("/images/upload", Access::User),
    ("/images/:id", Access::User),
    ("/account", Access::User),
    ("/admin/machines/new", Access::Admin),
    ("/admin/users", Access::Admin),
    ("/admin/groups", Access::Admin),
    ("/admin/audit", Access::Admin),
    ("/admin/settings", Access::Admin),
    ("/admin/discovered", Access::Admin),
];

/// The access rule of a concrete path such as `/machines/3`, if it is a page.
pub fn page_access(path: &str) -> Option<Access> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    PAGES
        .iter()
        .find(|(pattern, _)| matches(pattern, path))
        .map(|(_, access)| *access)
}

fn matches(pattern: &str, path: &str) -> bool {
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if p.starts_with(':') && !s.is_empty() => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concrete_paths_find_their_page_rule() {
        assert_eq!(page_access("/"), Some(Access::User));
        assert_eq!(page_access("/machines/17"), Some(Access::User));
        assert_eq!(page_access("/machines/17/edit"), Some(Access::User));
        assert_eq!(page_access("/admin/users/"), Some(Access::Admin));
        assert_eq!(page_access("/login"), Some(Access::Public));
        assert_eq!(page_access("/machines/"), None);
        assert_eq!(page_access("/nope"), None);
    }
}
