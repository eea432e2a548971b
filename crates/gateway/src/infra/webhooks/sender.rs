//! Sending one delivery: the host resolved once and checked (never a loopback, private,
//! link-local or multicast address unless allowed), the connection made to that checked
//! address, the body signed, no redirect followed, 10 seconds at most, at most 64 KB of the
//! answer read.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use emporium_webhooks::{self as webhooks, Claimed, Outcome};

use crate::state::AppState;

/// The longest an attempt may take (`Config::webhook_timeout`'s default).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer that is read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Clients kept (one per host and checked address: connections are reused).
const CLIENTS: usize = 256;

/// Sends deliveries, reusing a client per host and address.
pub struct Sender {
    allow_private: bool,
    timeout: Duration,
    clients: Mutex<Vec<((String, SocketAddr), reqwest::Client)>>,
}

impl Sender {
    pub fn new(allow_private: bool, timeout: Duration) -> Self {
        Self { allow_private, timeout, clients: Mutex::new(Vec::new()) }
    }

    fn client(&self, host: &str, address: SocketAddr) -> Result<reqwest::Client, String> {
        let key = (host.to_owned(), address);
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .no_proxy()
            .resolve(host, address)
            .user_agent("Emporium-Webhooks/1")
            .build()
            .map_err(|e| format!("client: {e}"))?;
        if clients.len() >= CLIENTS {
            clients.remove(0);
        }
        clients.push((key, client.clone()));
        Ok(client)
    }

    /// Sends one claimed delivery; how it ended.
    pub async fn send(&self, state: &AppState, claimed: &Claimed) -> Outcome {
        match self.attempt(state, claimed).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Failed { status: None, error },
        }
    }

    async fn attempt(&self, state: &AppState, claimed: &Claimed) -> Result<Outcome, String> {
        let url = url::Url::parse(&claimed.url).map_err(|e| format!("url: {e}"))?;
        let host = url.host_str().ok_or("url without a host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().ok_or("url without a port")?;
        let addresses = tokio::time::timeout(self.timeout, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| "resolving the host timed out".to_owned())?
            .map_err(|e| format!("resolving the host failed: {e}"))?;
        let address = webhooks::check_address(addresses, self.allow_private).map_err(|e| e.to_string())?;
        let client = self.client(&host, address)?;
        let now = state.clock.now();
        let previous = claimed.previous.as_ref().map(|(nonce, until)| (nonce.as_str(), *until));
        let secrets = webhooks::secrets_of(&state.keyring, &claimed.subscription_id, &claimed.nonce, previous, now);
        let signature = webhooks::signature_header(&secrets, now.timestamp(), claimed.body.as_bytes());
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("emporium-event-id", &claimed.event_id)
            .header("emporium-event-type", &claimed.event_type)
            .header("emporium-signature", signature)
            .body(claimed.body.clone())
            .send()
            .await;
        let mut answer = match sent {
            Ok(answer) => answer,
            Err(err) if err.is_timeout() => return Ok(Outcome::Failed { status: None, error: "timed out".to_owned() }),
            Err(err) if err.is_connect() => {
                return Ok(Outcome::Failed { status: None, error: "the connection was refused".to_owned() });
            }
            Err(err) => return Ok(Outcome::Failed { status: None, error: format!("sending failed: {err}") }),
        };
        let status = answer.status();
        // Read (and drop) at most 64 KB of the answer, so a connection can be reused.
        let mut read = 0usize;
        while read < MAX_ANSWER_BYTES {
            match answer.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(if status.is_success() {
            Outcome::Delivered { status: status.as_u16() }
        } else if status.is_redirection() {
            Outcome::Failed { status: Some(status.as_u16()), error: "redirects are not followed".to_owned() }
        } else {
            Outcome::Failed { status: Some(status.as_u16()), error: format!("answered {status}") }
        })
    }
}
