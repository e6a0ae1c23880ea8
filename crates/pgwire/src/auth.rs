//! Logging in: any user name, an application key as the password.
//!
//! Keys are stored hashed, so the key a client presents is checked rather
//! than compared with a stored password (what the stock cleartext handler
//! would need).
//!
//! With TLS configured, a login over a plain connection is refused before
//! the password is asked for. Every failed login is recorded as an audit
//! event (`source:evident @evt.name:authentication status:error`) and
//! answered after a pause; past [`MAX_FAILURES`] from one address within a
//! minute, that address is refused without any key being checked until
//! the minute is over (one more event says so).

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, LoginInfo, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use std::sync::Arc;

use evident_app::access::Permission;
use evident_app::activity::login_failure_event;
use evident_app::{Actor, Evident};

/// Session metadata: the email of the user whose key signed in, and the
/// key's id.
pub const USER_EMAIL: &str = "evident.user_email";
pub const KEY_ID: &str = "evident.key_id";

/// Failed logins allowed from one address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);
/// How long a wrong password waits for its answer.
const PENALTY: Duration = Duration::from_millis(500);

/// Failed logins by client address, in the current window.
#[derive(Debug, Default)]
struct Failures {
    by_address: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Failures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Failures from `address` in its window so far.
    fn count(&self, address: IpAddr) -> u32 {
        let now = Instant::now();
        let mut failures = self.lock();
        failures.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        failures.get(&address).map_or(0, |(_, count)| *count)
    }

    /// One more failure from `address`; the count now.
    fn add(&self, address: IpAddr) -> u32 {
        let now = Instant::now();
        let mut failures = self.lock();
        let entry = failures.entry(address).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1
    }
}

/// Asks for a clear-text password and accepts an application key.
pub struct ApplicationKeyLogin {
    evident: Arc<Evident>,
    parameters: DefaultServerParameterProvider,
    process_ids: RandomPidSecretKeyGenerator,
    require_tls: bool,
    failures: Failures,
}

impl ApplicationKeyLogin {
    pub fn new(evident: Arc<Evident>, require_tls: bool) -> ApplicationKeyLogin {
        let mut parameters = DefaultServerParameterProvider::default();
        // Drivers read the major version from the front of this string.
        parameters.server_version = format!("16.6 (evident {})", env!("CARGO_PKG_VERSION"));
        // Events can only be read over SQL.
        parameters.default_transaction_read_only = true;
        ApplicationKeyLogin {
            evident,
            parameters,
            process_ids: RandomPidSecretKeyGenerator::default(),
            require_tls,
            failures: Failures::default(),
        }
    }

    /// Records a refused login (durably: the answer waits for it).
    async fn record_failure(&self, user: &str, address: IpAddr, reason: &str) {
        let actor = Actor::postgres(user, Some(address.to_string()));
        let event = login_failure_event(&actor, reason);
        if let Err(error) = self.evident.record(event).await {
            tracing::error!(%error, "a failed login could not be recorded");
        }
    }
}

fn refused(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_owned(),
        code.to_owned(),
        message.into(),
    )))
}

impl Debug for ApplicationKeyLogin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ApplicationKeyLogin")
    }
}

#[async_trait]
impl StartupHandler for ApplicationKeyLogin {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if self.require_tls && !client.is_secure() {
                    // Before the password is asked for: it never travels in clear.
                    return Err(refused(
                        "28000",
                        "this server requires TLS: connect with sslmode=require",
                    ));
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                let address = client.socket_addr().ip();
                let user = LoginInfo::from_client_info(client)
                    .user()
                    .unwrap_or_default()
                    .to_owned();
                let earlier = self.failures.count(address);
                if earlier >= MAX_FAILURES {
                    if self.failures.add(address) == MAX_FAILURES + 1 {
                        self.record_failure(
                            &user,
                            address,
                            "too many failed logins: refused for a minute",
                        )
                        .await;
                    }
                    return Err(refused(
                        "28000",
                        format!("too many failed logins from {address}: try again in a minute"),
                    ));
                }
                let Some(principal) = self.evident.access().authenticate(&password.password) else {
                    self.failures.add(address);
                    tracing::warn!(%address, user, "postgres login with a wrong password");
                    self.record_failure(&user, address, "wrong password").await;
                    tokio::time::sleep(PENALTY).await;
                    return Err(PgWireError::InvalidPassword(user));
                };
                if !principal.may(Permission::SqlQuery) {
                    self.record_failure(&user, address, "the key's user may not run SQL")
                        .await;
                    return Err(refused(
                        "42501",
                        format!(
                            "{} may not run SQL: it needs the sql_query permission",
                            principal.email
                        ),
                    ));
                }
                // Who the session's statements are recorded as.
                let metadata = client.metadata_mut();
                metadata.insert(USER_EMAIL.to_owned(), principal.email.clone());
                metadata.insert(
                    KEY_ID.to_owned(),
                    principal.key_id.clone().unwrap_or_default(),
                );
                let (pid, secret_key) = self.process_ids.generate(client);
                client.set_pid_and_secret_key(pid, secret_key);
                finish_authentication(client, &self.parameters).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
