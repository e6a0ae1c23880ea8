//! Logging in: any user name, an application key as the password.
//!
//! Keys are stored hashed, so the key a client presents is checked rather
//! than compared with a stored password (what the stock cleartext handler
//! would need).

use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, LoginInfo, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::http::SharedState;
use crate::keys::KeyKind;

/// Asks for a clear-text password and accepts an application key.
pub struct ApplicationKeyLogin {
    state: SharedState,
    parameters: DefaultServerParameterProvider,
    process_ids: RandomPidSecretKeyGenerator,
}

impl ApplicationKeyLogin {
    pub fn new(state: SharedState) -> ApplicationKeyLogin {
        let mut parameters = DefaultServerParameterProvider::default();
        // Drivers read the major version from the front of this string.
        parameters.server_version = format!("16.6 (evident {})", env!("CARGO_PKG_VERSION"));
        // Events can only be read over SQL.
        parameters.default_transaction_read_only = true;
        ApplicationKeyLogin {
            state,
            parameters,
            process_ids: RandomPidSecretKeyGenerator::default(),
        }
    }
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
                if !self
                    .state
                    .keys
                    .accepts(KeyKind::Application, &password.password)
                {
                    let login = LoginInfo::from_client_info(client);
                    return Err(PgWireError::InvalidPassword(
                        login.user().unwrap_or_default().to_owned(),
                    ));
                }
                let (pid, secret_key) = self.process_ids.generate(client);
                client.set_pid_and_secret_key(pid, secret_key);
                finish_authentication(client, &self.parameters).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
