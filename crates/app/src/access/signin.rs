//! Signing in to the web UI: with a local password, an application key or
//! single sign-on. Each sign-in, failed or not, is an audit event
//! (`@evt.name:authentication @action:login`, `status:error` when
//! refused, never the password). Failures are counted per account and per
//! client address: past the account's limit the account is locked for a
//! while (`@action:lockout`, recorded once), past the address's limit the
//! address is refused until its window ends, so guessing is slow and a
//! flood of guesses cannot flood the trail.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use super::password;
use super::store::Principal;
use crate::Evident;
use crate::activity::{authentication_event, login_failure_event};
use crate::actor::{Actor, key_fingerprint};
use crate::error::AppError;

/// How many failures lock what, for how long.
#[derive(Debug, Clone)]
pub struct SignInLimits {
    /// Failed sign-ins of one account within `window` that lock it.
    pub account_failures: u32,
    /// Failed sign-ins from one address within `window` after which it is
    /// refused until the window ends.
    pub address_failures: u32,
    pub window: Duration,
    /// How long a locked account stays locked.
    pub lockout: Duration,
}

impl Default for SignInLimits {
    fn default() -> SignInLimits {
        SignInLimits {
            account_failures: 5,
            address_failures: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// Failures of one account or address.
#[derive(Debug, Clone, Copy)]
struct Tally {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// The failures seen, by account and by address.
#[derive(Debug, Default)]
pub struct SignInGuard {
    accounts: Mutex<HashMap<String, Tally>>,
    addresses: Mutex<HashMap<String, Tally>>,
}

/// What a failure started.
#[derive(Debug, PartialEq, Eq)]
enum Locked {
    Nothing,
    Account,
}

impl SignInGuard {
    /// Why `account` from `address` may not try now, if it may not.
    fn refusal(&self, account: &str, address: &str) -> Option<String> {
        let now = Instant::now();
        let blocked = |tallies: &Mutex<HashMap<String, Tally>>, key: &str| {
            tallies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key)
                .and_then(|tally| tally.locked_until)
                .filter(|until| *until > now)
        };
        if let Some(until) = blocked(&self.addresses, address) {
            return Some(format!(
                "too many failed sign-ins from this address: try again in {} s",
                (until - now).as_secs().max(1)
            ));
        }
        blocked(&self.accounts, account).map(|until| {
            format!(
                "this account is locked after repeated failed sign-ins: try again in {} s",
                (until - now).as_secs().max(1)
            )
        })
    }

    fn count(
        tallies: &Mutex<HashMap<String, Tally>>,
        key: &str,
        limit: u32,
        limits: &SignInLimits,
        lock_for: Duration,
    ) -> bool {
        let now = Instant::now();
        let mut tallies = tallies.lock().unwrap_or_else(PoisonError::into_inner);
        tallies.retain(|_, tally| {
            now.duration_since(tally.since) < limits.window
                || tally.locked_until.is_some_and(|until| until > now)
        });
        let tally = tallies.entry(key.to_owned()).or_insert(Tally {
            failures: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(tally.since) >= limits.window {
            *tally = Tally {
                failures: 0,
                since: now,
                locked_until: None,
            };
        }
        tally.failures += 1;
        if tally.failures >= limit && tally.locked_until.is_none_or(|until| until <= now) {
            tally.locked_until = Some(now + lock_for);
            return true;
        }
        false
    }

    /// Counts a failure; whether it locked the account.
    fn failed(&self, limits: &SignInLimits, account: &str, address: &str) -> Locked {
        let window_left = limits.window;
        Self::count(
            &self.addresses,
            address,
            limits.address_failures,
            limits,
            window_left,
        );
        if Self::count(
            &self.accounts,
            account,
            limits.account_failures,
            limits,
            limits.lockout,
        ) {
            Locked::Account
        } else {
            Locked::Nothing
        }
    }

    fn succeeded(&self, account: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account);
    }
}

/// What a sign-in presents.
#[derive(Debug)]
pub enum Credentials<'a> {
    Password { email: &'a str, password: &'a str },
    ApplicationKey(&'a str),
}

impl Evident {
    /// Checks `credentials` presented by `context` (its address and
    /// request), recording the outcome; the user signed in and how.
    pub async fn sign_in(
        &self,
        credentials: Credentials<'_>,
        context: &Actor,
    ) -> Result<Principal, AppError> {
        let (account, auth_method) = match &credentials {
            Credentials::Password { email, .. } => (email.trim().to_lowercase(), "password"),
            Credentials::ApplicationKey(key) => (key_fingerprint(key), "api_app_keys"),
        };
        let attempt = Actor {
            client_ip: context.client_ip.clone(),
            http: context.http.clone(),
            ..Actor::signing_in(&account, auth_method)
        };
        let address = context
            .client_ip
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let limits = &self.settings.sign_in;
        if let Some(reason) = self.sign_ins.refusal(&account, &address) {
            return Err(AppError::new(crate::ErrorKind::RateLimited, reason));
        }
        let principal = match credentials {
            Credentials::Password { email, password } => {
                let user = self.access.user_by_email(email);
                let phc = user
                    .as_ref()
                    .and_then(|user| user.password.clone())
                    .unwrap_or_else(|| password::decoy().to_owned());
                let password = password.to_owned();
                let matches =
                    tokio::task::spawn_blocking(move || password::verify(&password, &phc))
                        .await
                        .map_err(|error| AppError::task("checking a password", error))?;
                user.filter(|_| matches)
                    .and_then(|user| self.access.principal_of_user(&user.id))
            }
            Credentials::ApplicationKey(key) => self.access.authenticate(key),
        };
        let Some(principal) = principal else {
            let reason = match auth_method {
                "password" => "wrong email or password, or a disabled user",
                _ => "not an application key of this server",
            };
            self.record(login_failure_event(&attempt, reason)).await?;
            if self.sign_ins.failed(limits, &account, &address) == Locked::Account {
                let event = authentication_event(
                    &attempt,
                    "lockout",
                    json!({"locked_seconds": limits.lockout.as_secs()}),
                    format!(
                        "{account} is locked for {} s after {} failed sign-ins",
                        limits.lockout.as_secs(),
                        limits.account_failures
                    ),
                    "error",
                );
                self.record(event).await?;
            }
            return Err(AppError::unauthenticated(format!(
                "{reason}: sign-in refused"
            )));
        };
        self.sign_ins.succeeded(&account);
        let actor = Actor {
            client_ip: context.client_ip.clone(),
            http: context.http.clone(),
            ..Actor::user(&principal, auth_method, crate::actor::Surface::Ui)
        };
        let event = authentication_event(
            &actor,
            "login",
            json!({}),
            format!("{} signed in to the web UI", principal.email),
            "info",
        );
        self.record(event).await?;
        Ok(principal)
    }

    /// Records that `actor` signed out.
    pub async fn signed_out(&self, actor: &Actor) -> Result<(), AppError> {
        let event = authentication_event(
            actor,
            "logout",
            json!({}),
            format!(
                "{} signed out of the web UI",
                actor.email.as_deref().unwrap_or(&actor.id)
            ),
            "info",
        );
        self.record(event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_lock_after_their_limit_and_addresses_after_theirs() {
        let limits = SignInLimits {
            account_failures: 3,
            address_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        };
        let guard = SignInGuard::default();
        assert_eq!(guard.failed(&limits, "ana", "10.0.0.1"), Locked::Nothing);
        assert_eq!(guard.failed(&limits, "ana", "10.0.0.1"), Locked::Nothing);
        assert!(guard.refusal("ana", "10.0.0.1").is_none());
        assert_eq!(guard.failed(&limits, "ana", "10.0.0.1"), Locked::Account);
        assert!(guard.refusal("ana", "10.0.0.2").is_some(), "the account");
        assert!(guard.refusal("bob", "10.0.0.1").is_none());
        guard.failed(&limits, "bob", "10.0.0.1");
        guard.failed(&limits, "carl", "10.0.0.1");
        assert!(
            guard
                .refusal("dora", "10.0.0.1")
                .is_some_and(|reason| reason.contains("address")),
            "the address, whatever the account"
        );
        assert!(guard.refusal("dora", "10.0.0.9").is_none());
    }
}
