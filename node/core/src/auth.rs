//! Users, login by username + PIN (argon2id), lockout after repeated failures, and supervisor
//! approval by PIN for guarded actions. Every guarded action is logged with who approved it.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};
use kasir_schema::roles::{Permission, Role};
use rusqlite::{Connection, OptionalExtension, params};

use crate::db;
use crate::error::{NodeError, Result};
use crate::till::Till;

/// Hashing cost and lockout policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParams {
    /// argon2id memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub max_failed_attempts: u32,
    pub lockout_minutes: i64,
}

impl Default for AuthParams {
    /// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        AuthParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            max_failed_attempts: 5,
            lockout_minutes: 15,
        }
    }
}

impl AuthParams {
    /// Cheap hashing for tests that log in hundreds of times (still argon2id).
    pub fn fast_for_tests() -> Self {
        AuthParams {
            memory_kib: 64,
            iterations: 1,
            ..AuthParams::default()
        }
    }

    fn argon(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, 1, None)
            .map_err(|e| NodeError::Invalid(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes a PIN or password with `salt` (16 random bytes from the till's environment).
    pub fn hash(&self, secret: &str, salt: [u8; 16]) -> Result<String> {
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| NodeError::Invalid(format!("salt: {e}")))?;
        self.argon()?
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| NodeError::Invalid(format!("hashing: {e}")))
    }

    /// Verifies against the parameters stored in the hash itself.
    pub fn verify(&self, secret: &str, hash: &str) -> bool {
        PasswordHash::new(hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(secret.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub full_name: String,
    pub role: Role,
    /// A PIN (at least 4 digits) or a password (at least 8 characters).
    pub pin: String,
}

/// Who is logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
}

/// A supervisor's PIN-checked approval of one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub permission: Permission,
    pub approver_id: i64,
    pub approver: String,
    /// Why the supervisor approved (the screen asks; recorded with what was approved).
    pub reason: Option<String>,
}

impl Approval {
    /// This approval with the reason given for it (blank: none).
    pub fn with_reason(mut self, reason: &str) -> Approval {
        self.reason = Some(reason.trim().to_string()).filter(|r| !r.is_empty());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    pub failed_attempts: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

fn validate_new_user(u: &NewUser) -> Result<()> {
    let name_ok = (1..=100).contains(&u.username.chars().count())
        && u.username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(NodeError::Invalid(
            "username: 1–100 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    if u.full_name.trim().is_empty() {
        return Err(NodeError::Invalid("full name is required".into()));
    }
    if !u.role.is_till_role() {
        return Err(NodeError::Invalid(format!(
            "{} is an HQ role; till accounts are cashier, supervisor or manager",
            u.role
        )));
    }
    let digits_only = u.pin.chars().all(|c| c.is_ascii_digit());
    let strong_enough = if digits_only {
        u.pin.len() >= 4
    } else {
        u.pin.chars().count() >= 8
    };
    if !strong_enough || u.pin.len() > 128 {
        return Err(NodeError::Invalid(
            "PIN must have at least 4 digits, a password at least 8 characters".into(),
        ));
    }
    Ok(())
}

pub(crate) fn insert_user(conn: &Connection, u: &NewUser, hash: &str, now: &str) -> Result<i64> {
    validate_new_user(u)?;
    let taken: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
        [&u.username],
        |r| r.get(0),
    )?;
    if taken {
        return Err(NodeError::Invalid(format!(
            "username {} is taken",
            u.username
        )));
    }
    conn.execute(
        "INSERT INTO users (username, password_hash, full_name, role, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![u.username, hash, u.full_name, u.role.as_str(), now],
    )?;
    Ok(conn.last_insert_rowid())
}

fn user_by_name(conn: &Connection, username: &str) -> Result<Option<(UserRow, String)>> {
    conn.query_row(
        "SELECT id, username, full_name, role, is_active, failed_attempts, locked_until, password_hash
         FROM users WHERE username = ?1",
        [username],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        },
    )
    .optional()?
    .map(|(id, username, full_name, role, is_active, failed, locked, hash)| {
        Ok((
            UserRow {
                id,
                username,
                full_name,
                role: role
                    .parse()
                    .map_err(|e| NodeError::Corrupt(format!("user {id}: {e}")))?,
                is_active,
                failed_attempts: failed,
                locked_until: locked.as_deref().map(db::parse_ts).transpose()?,
            },
            hash,
        ))
    })
    .transpose()
}

impl Till {
    /// Checks a username and PIN. Wrong PINs are counted and logged; after
    /// `max_failed_attempts` the account is locked for `lockout_minutes`.
    fn check_credentials(&mut self, username: &str, pin: &str) -> Result<UserRow> {
        let now = self.now();
        let Some((user, hash)) = user_by_name(&self.conn, username)? else {
            // Same answer as a wrong PIN: do not reveal which usernames exist.
            self.write(|tx, _| {
                Till::log(
                    tx,
                    "warning",
                    "login failed: unknown user",
                    serde_json::json!({ "username": username }),
                    None,
                    None,
                    now,
                )
            })?;
            return Err(NodeError::WrongCredentials {
                remaining: self.auth.max_failed_attempts,
            });
        };
        if let Some(until) = user.locked_until
            && until > now
        {
            return Err(NodeError::LockedOut { until });
        }
        if !user.is_active {
            return Err(NodeError::Inactive);
        }
        if self.auth.verify(pin, &hash) {
            if user.failed_attempts > 0 || user.locked_until.is_some() {
                self.write(|tx, _| {
                    tx.execute(
                        "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = ?1",
                        [user.id],
                    )?;
                    Ok(())
                })?;
            }
            return Ok(user);
        }
        let failed = user.failed_attempts + 1;
        let locked = (failed >= self.auth.max_failed_attempts)
            .then(|| now + Duration::minutes(self.auth.lockout_minutes));
        self.write(|tx, _| {
            tx.execute(
                "UPDATE users SET failed_attempts = ?2, locked_until = ?3 WHERE id = ?1",
                params![user.id, failed, locked.map(db::ts)],
            )?;
            Till::log(
                tx,
                "warning",
                if locked.is_some() {
                    "login failed: account locked"
                } else {
                    "login failed: wrong PIN"
                },
                serde_json::json!({ "username": username, "failed_attempts": failed }),
                Some(user.id),
                None,
                now,
            )
        })?;
        match locked {
            Some(until) => Err(NodeError::LockedOut { until }),
            None => Err(NodeError::WrongCredentials {
                remaining: self.auth.max_failed_attempts - failed,
            }),
        }
    }

    pub fn login(&mut self, username: &str, pin: &str) -> Result<Session> {
        self.config()?;
        let user = self.check_credentials(username, pin)?;
        let now = self.now();
        self.write(|tx, _| {
            tx.execute(
                "UPDATE users SET last_login = ?2 WHERE id = ?1",
                params![user.id, db::ts(now)],
            )?;
            Till::log(
                tx,
                "info",
                "login",
                serde_json::json!({ "username": username }),
                Some(user.id),
                None,
                now,
            )
        })?;
        let session = Session {
            user_id: user.id,
            username: user.username,
            full_name: user.full_name,
            role: user.role,
        };
        self.session = Some(session.clone());
        Ok(session)
    }

    pub fn logout(&mut self) {
        self.session = None;
    }

    pub fn session(&self) -> Result<&Session> {
        self.session.as_ref().ok_or(NodeError::NotLoggedIn)
    }

    /// A supervisor (or manager) approves `permission` with their PIN.
    pub fn approve(
        &mut self,
        username: &str,
        pin: &str,
        permission: Permission,
    ) -> Result<Approval> {
        let user = self.check_credentials(username, pin)?;
        if !user.role.can_approve(permission) {
            let now = self.now();
            self.write(|tx, _| {
                Till::log(
                    tx,
                    "warning",
                    "approval refused: role may not approve",
                    serde_json::json!({ "approver": username, "permission": permission }),
                    Some(user.id),
                    None,
                    now,
                )
            })?;
            return Err(NodeError::ApproverNotAllowed(permission));
        }
        Ok(Approval {
            permission,
            approver_id: user.id,
            approver: user.username,
            reason: None,
        })
    }

    /// Checks that the logged-in user may do `permission`, directly or through `approval`.
    /// Returns the approver's id when an approval was needed.
    pub(crate) fn authorize(
        &self,
        permission: Permission,
        approval: Option<&Approval>,
    ) -> Result<Option<i64>> {
        let s = self.session()?;
        if s.role.allows(permission) {
            return Ok(None);
        }
        match approval {
            Some(a) if a.permission == permission => Ok(Some(a.approver_id)),
            _ => Err(NodeError::ApprovalRequired(permission)),
        }
    }

    /// Creates a till account (managers, or with a manager's approval).
    pub fn create_user(&mut self, user: NewUser, approval: Option<&Approval>) -> Result<i64> {
        let approver = self.authorize(Permission::ManageUsers, approval)?;
        let hash = self.auth.hash(&user.pin, self.env.random_bytes())?;
        let now = self.now();
        let actor = self.session()?.user_id;
        self.write(|tx, _| {
            let id = insert_user(tx, &user, &hash, &db::ts(now))?;
            Till::log(
                tx,
                "info",
                "user created",
                serde_json::json!({ "username": user.username, "role": user.role }),
                Some(actor),
                approver,
                now,
            )?;
            Ok(id)
        })
    }

    /// Activates or deactivates an account, and clears a lockout.
    pub fn set_user_active(
        &mut self,
        username: &str,
        active: bool,
        approval: Option<&Approval>,
    ) -> Result<()> {
        let approver = self.authorize(Permission::ManageUsers, approval)?;
        let now = self.now();
        let actor = self.session()?.user_id;
        self.write(|tx, _| {
            let n = tx.execute(
                "UPDATE users SET is_active = ?2, failed_attempts = 0, locked_until = NULL, updated_at = ?3
                 WHERE username = ?1",
                params![username, active, db::ts(now)],
            )?;
            if n == 0 {
                return Err(NodeError::NotFound {
                    what: format!("user {username}"),
                    hint: None,
                });
            }
            Till::log(
                tx,
                "info",
                if active { "user activated" } else { "user deactivated" },
                serde_json::json!({ "username": username }),
                Some(actor),
                approver,
                now,
            )
        })
    }

    pub fn users(&self) -> Result<Vec<UserRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT username FROM users ORDER BY username")?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names
            .iter()
            .filter_map(|n| user_by_name(&self.conn, n).transpose())
            .map(|r| r.map(|(u, _)| u))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str, role: Role, pin: &str) -> NewUser {
        NewUser {
            username: username.into(),
            full_name: "Test".into(),
            role,
            pin: pin.into(),
        }
    }

    #[test]
    fn accounts_are_validated() {
        assert!(validate_new_user(&user("siti", Role::Cashier, "1234")).is_ok());
        assert!(validate_new_user(&user("siti.r_2", Role::Supervisor, "correct horse")).is_ok());
        for bad in [
            user("", Role::Cashier, "1234"),
            user("siti rahma", Role::Cashier, "1234"),
            user("siti';--", Role::Cashier, "1234"),
            user("siti", Role::Admin, "1234"),
            user("siti", Role::Cashier, "123"),
            user("siti", Role::Cashier, "short"),
        ] {
            assert!(validate_new_user(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_secret() {
        let p = AuthParams::fast_for_tests();
        let h = p.hash("1234", [1; 16]).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(p.verify("1234", &h));
        assert!(!p.verify("1235", &h));
        assert!(!p.verify("1234", "not a hash"));
        // Same secret, different salt.
        assert_ne!(h, p.hash("1234", [2; 16]).unwrap());
        assert_eq!(h, p.hash("1234", [1; 16]).unwrap());
        let owasp = AuthParams::default();
        assert_eq!((owasp.memory_kib, owasp.iterations), (19 * 1024, 2));
    }
}
