//! Username/password credentials, checked in constant time.

use std::fmt;

use subtle::{Choice, ConstantTimeEq};

/// One username and password pair.
///
/// `Debug` shows the username only.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    name: String,
    password: String,
}

impl User {
    /// A user. Both fields must be 1 to 255 bytes (RFC 1929 field sizes).
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Result<Self, UserError> {
        let (name, password) = (name.into(), password.into());
        for (field, value) in [("username", &name), ("password", &password)] {
            if value.is_empty() || value.len() > 255 {
                return Err(UserError::BadLength {
                    field,
                    len: value.len(),
                });
            }
        }
        Ok(Self { name, password })
    }

    /// The username.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The password, for building share links.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Why a [`User`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// RFC 1929 carries each field in 1 to 255 bytes.
    #[error("{field} must be 1 to 255 bytes long, not {len}")]
    BadLength {
        /// "username" or "password".
        field: &'static str,
        /// The length given.
        len: usize,
    },
}

/// The users allowed to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserTable {
    users: Vec<User>,
}

impl UserTable {
    /// A table of `users`.
    pub fn new(users: Vec<User>) -> Self {
        Self { users }
    }

    /// The users, in configuration order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The index of the user whose name and password both match, if any.
    ///
    /// Every user is compared, and each comparison takes time that depends only on
    /// the lengths involved, so the timing tells an attacker neither which names
    /// exist nor how much of a password was right.
    pub fn check(&self, username: &[u8], password: &[u8]) -> Option<usize> {
        let mut found = Choice::from(0);
        let mut index = 0usize;
        for (i, user) in self.users.iter().enumerate() {
            let hit =
                user.name.as_bytes().ct_eq(username) & user.password.as_bytes().ct_eq(password);
            // Branch-free select of the first hit's index.
            let take = hit & !found;
            index = usize::conditional_select_ct(index, i, take);
            found |= hit;
        }
        bool::from(found).then_some(index)
    }
}

/// A constant-time select for `usize`, which `subtle` does not provide directly.
trait SelectCt {
    fn conditional_select_ct(a: Self, b: Self, choice: Choice) -> Self;
}

impl SelectCt for usize {
    fn conditional_select_ct(a: usize, b: usize, choice: Choice) -> usize {
        let mask = usize::from(choice.unwrap_u8()).wrapping_neg();
        a ^ (mask & (a ^ b))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn table() -> UserTable {
        UserTable::new(vec![
            User::new("alice", "wonderland").unwrap(),
            User::new("bob", "builder").unwrap(),
            User::new("alice", "second-password").unwrap(),
        ])
    }

    #[test]
    fn matches_name_and_password_together() {
        let t = table();
        assert_eq!(t.check(b"alice", b"wonderland"), Some(0));
        assert_eq!(t.check(b"bob", b"builder"), Some(1));
        assert_eq!(t.check(b"alice", b"second-password"), Some(2));
        assert_eq!(
            t.check(b"bob", b"wonderland"),
            None,
            "password of another user"
        );
        assert_eq!(
            t.check(b"alice", b"wonderlan"),
            None,
            "prefix of the password"
        );
        assert_eq!(
            t.check(b"alice", b"wonderlandx"),
            None,
            "password plus a byte"
        );
        assert_eq!(t.check(b"", b""), None);
        assert_eq!(UserTable::default().check(b"alice", b"wonderland"), None);
    }

    #[test]
    fn field_lengths_follow_rfc1929() {
        assert!(User::new("", "x").is_err());
        assert!(User::new("x", "").is_err());
        assert!(User::new("x".repeat(256), "x").is_err());
        assert!(User::new("x".repeat(255), "y".repeat(255)).is_ok());
    }

    #[test]
    fn debug_hides_password() {
        let shown = format!("{:?}", table());
        assert!(
            !shown.contains("wonderland") && !shown.contains("builder"),
            "{shown}"
        );
    }
}
