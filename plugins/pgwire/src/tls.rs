//! TLS for client connections: the server certificate, optional client
//! certificate verification (mTLS) and the mode that says whether TLS is
//! offered or required. Files are read once, at start: a missing or bad
//! file stops the start with an error naming its configuration key.

use std::io::BufReader;
use std::sync::Arc;

use aiondb_sdk::error::{AionError, DbResult, SqlState};
use async_tls::TlsAcceptor;
use rustls::server::AllowAnyAuthenticatedClient;
use rustls::{Certificate, PrivateKey, RootCertStore, ServerConfig};

pub(crate) const TLS_MODE: &str = "AIONDB_PGWIRE_TLS_MODE";
pub(crate) const TLS_CERT_PATH: &str = "AIONDB_PGWIRE_TLS_CERT_PATH";
pub(crate) const TLS_KEY_PATH: &str = "AIONDB_PGWIRE_TLS_KEY_PATH";
pub(crate) const TLS_CLIENT_CA_PATH: &str = "AIONDB_PGWIRE_TLS_CLIENT_CA_PATH";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    /// TLS is offered; plaintext clients are still served.
    Prefer,
    /// Plaintext StartupMessages are refused (28000).
    Require,
}

impl Mode {
    pub fn parse(s: &str) -> DbResult<Mode> {
        match s {
            "disable" => Ok(Mode::Disable),
            "prefer" => Ok(Mode::Prefer),
            "require" => Ok(Mode::Require),
            other => Err(config_error(
                TLS_MODE,
                format!("unknown TLS mode \"{other}\" (expected disable, prefer or require)"),
            )),
        }
    }
}

/// What the listener needs to answer SSLRequests.
pub(crate) struct Tls {
    pub acceptor: TlsAcceptor,
    /// Plaintext sessions are refused: `require`, or client certificates
    /// are verified (a plaintext client would bypass that check).
    pub required: bool,
}

fn config_error(key: &str, msg: impl std::fmt::Display) -> AionError {
    AionError::new(SqlState::new(b"F0000"), format!("{key}: {msg}"))
}

fn read_pem(key: &str, path: &str) -> DbResult<Vec<rustls_pemfile::Item>> {
    let file = std::fs::File::open(path)
        .map_err(|e| config_error(key, format!("cannot read \"{path}\": {e}")))?;
    rustls_pemfile::read_all(&mut BufReader::new(file))
        .map_err(|e| config_error(key, format!("\"{path}\" is not a valid PEM file: {e}")))
}

fn certificates(key: &str, path: &str) -> DbResult<Vec<Certificate>> {
    let certs: Vec<Certificate> = read_pem(key, path)?
        .into_iter()
        .filter_map(|item| match item {
            rustls_pemfile::Item::X509Certificate(der) => Some(Certificate(der)),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(config_error(
            key,
            format!("\"{path}\" holds no PEM certificate (BEGIN CERTIFICATE)"),
        ));
    }
    Ok(certs)
}

fn private_key(path: &str) -> DbResult<PrivateKey> {
    read_pem(TLS_KEY_PATH, path)?
        .into_iter()
        .find_map(|item| match item {
            rustls_pemfile::Item::PKCS8Key(der)
            | rustls_pemfile::Item::RSAKey(der)
            | rustls_pemfile::Item::ECKey(der) => Some(PrivateKey(der)),
            _ => None,
        })
        .ok_or_else(|| {
            config_error(
                TLS_KEY_PATH,
                format!("\"{path}\" holds no PEM private key (PKCS#8, RSA or EC)"),
            )
        })
}

/// Builds the acceptor from the settings; `None` when TLS is off.
pub(crate) fn load(
    mode: Mode,
    cert: Option<&str>,
    key: Option<&str>,
    client_ca: Option<&str>,
) -> DbResult<Option<Arc<Tls>>> {
    if mode == Mode::Disable {
        return Ok(None);
    }
    // The kernel's configuration checks these too; a plugin started by
    // another host must not crash on their absence.
    let cert_path = cert.ok_or_else(|| {
        config_error(
            TLS_CERT_PATH,
            "must be set when TLS is enabled (with the key)",
        )
    })?;
    let key_path = key.ok_or_else(|| {
        config_error(
            TLS_KEY_PATH,
            "must be set when TLS is enabled (with the certificate)",
        )
    })?;
    let chain = certificates(TLS_CERT_PATH, cert_path)?;
    let private = private_key(key_path)?;
    let builder = ServerConfig::builder().with_safe_defaults();
    let builder = match client_ca {
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(TLS_CLIENT_CA_PATH, ca_path)? {
                roots.add(&c).map_err(|e| {
                    config_error(
                        TLS_CLIENT_CA_PATH,
                        format!("\"{ca_path}\" holds an unusable CA certificate: {e}"),
                    )
                })?;
            }
            builder.with_client_cert_verifier(AllowAnyAuthenticatedClient::new(roots).boxed())
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, private).map_err(|e| {
        config_error(
            TLS_KEY_PATH,
            format!("the key \"{key_path}\" does not fit the certificate \"{cert_path}\": {e}"),
        )
    })?;
    Ok(Some(Arc::new(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        required: mode == Mode::Require || client_ca.is_some(),
    })))
}
